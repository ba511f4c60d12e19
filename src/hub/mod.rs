//! channelstream's domain: users, connections, channels, history and presence. Pure: knows
//! nothing of sockets; `now` is an argument to everything that depends on time.
