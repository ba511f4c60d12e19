// Signs API calls the way channelstream's server checks them: an itsdangerous 1.1
// `TimestampSigner` token, `channelstream.TIMESTAMP.SIGNATURE`, with the key derived as
// sha1("itsdangerous.Signer" + "signer" + secret) and HMAC-SHA1 over "value.TIMESTAMP".
// SHA-1 is written out here (not WebCrypto) so that `signRequest()` stays synchronous and
// returns a string, as pages written for channelstream 0.7.1's client expect.
// Only for demos and trusted pages: whoever has the secret can call the whole API.

const BLOCK = 64;

/** SHA-1 (FIPS 180-4) of `bytes`; returns 20 bytes. */
function sha1(bytes) {
    const total = Math.ceil((bytes.length + 9) / BLOCK) * BLOCK;
    const padded = new Uint8Array(total);
    padded.set(bytes);
    padded[bytes.length] = 0x80;
    const view = new DataView(padded.buffer);
    const bits = bytes.length * 8;
    view.setUint32(total - 8, Math.floor(bits / 0x100000000));
    view.setUint32(total - 4, bits >>> 0);

    const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
    const w = new Uint32Array(80);
    const rotl = (x, n) => (x << n) | (x >>> (32 - n));
    for (let block = 0; block < total; block += BLOCK) {
        for (let i = 0; i < 16; i++) {
            w[i] = view.getUint32(block + i * 4);
        }
        for (let i = 16; i < 80; i++) {
            w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        }
        let [a, b, c, d, e] = h;
        for (let i = 0; i < 80; i++) {
            let mix;
            let k;
            if (i < 20) {
                mix = (b & c) | (~b & d);
                k = 0x5a827999;
            } else if (i < 40) {
                mix = b ^ c ^ d;
                k = 0x6ed9eba1;
            } else if (i < 60) {
                mix = (b & c) | (b & d) | (c & d);
                k = 0x8f1bbcdc;
            } else {
                mix = b ^ c ^ d;
                k = 0xca62c1d6;
            }
            const next = (rotl(a, 5) + mix + e + k + w[i]) >>> 0;
            e = d;
            d = c;
            c = rotl(b, 30) >>> 0;
            b = a;
            a = next;
        }
        h[0] = (h[0] + a) >>> 0;
        h[1] = (h[1] + b) >>> 0;
        h[2] = (h[2] + c) >>> 0;
        h[3] = (h[3] + d) >>> 0;
        h[4] = (h[4] + e) >>> 0;
    }
    const out = new Uint8Array(20);
    const outView = new DataView(out.buffer);
    h.forEach((word, i) => outView.setUint32(i * 4, word));
    return out;
}

/** HMAC-SHA1 (RFC 2104) of `message` under `key` (both byte arrays). */
function hmacSha1(key, message) {
    const block = new Uint8Array(BLOCK);
    block.set(key.length > BLOCK ? sha1(key) : key);
    const inner = new Uint8Array(BLOCK + message.length);
    const outer = new Uint8Array(BLOCK + 20);
    for (let i = 0; i < BLOCK; i++) {
        inner[i] = block[i] ^ 0x36;
        outer[i] = block[i] ^ 0x5c;
    }
    inner.set(message, BLOCK);
    outer.set(sha1(inner), BLOCK);
    return sha1(outer);
}

const utf8 = (text) => new TextEncoder().encode(text);

/** Standard base64 of a byte array. */
function base64(bytes) {
    let binary = "";
    for (const b of bytes) {
        binary += String.fromCharCode(b);
    }
    return btoa(binary);
}

/**
 * Makes the `X-Channelstream-Secret` value for API calls, like the client shipped with
 * channelstream 0.7.1: `new ChannelStreamSigner(secret).signRequest()`.
 */
export class ChannelStreamSigner {
    constructor(secret) {
        this.secret = secret;
    }

    /** Standard base64 of `x` as big-endian bytes, leading zero bytes dropped. */
    intToBytes(x) {
        const bytes = [];
        for (let rest = Math.floor(x); rest > 0; rest = Math.floor(rest / 256)) {
            bytes.unshift(rest % 256);
        }
        return base64(bytes);
    }

    /** Standard base64 to itsdangerous' form: URL-safe alphabet, no padding. */
    hashStrip(input) {
        return input.replace(/=/g, "").replace(/\+/g, "-").replace(/\//g, "_");
    }

    /** A token valid now (the server accepts it for 60 s when `validate_requests` is on). */
    signRequest() {
        const key = sha1(utf8("itsdangerous.Signer" + "signer" + this.secret));
        const timestamp = Math.floor(Date.now() / 1000);
        const value = "channelstream." + this.hashStrip(this.intToBytes(timestamp));
        const signature = base64(hmacSha1(key, utf8(value)));
        return value + "." + this.hashStrip(signature);
    }
}
