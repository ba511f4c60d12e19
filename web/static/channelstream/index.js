// The channelstream browser client: `import {ChannelStreamConnection, ChannelStreamSigner}
// from "http://HOST:8000/static/channelstream/index.js"`. Same exports as channelstream 0.7.1.
export {ChannelStreamConnection} from "./channelstream.js";
export {ChannelStreamSigner} from "./signer.js";
