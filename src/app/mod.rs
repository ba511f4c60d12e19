//! The glue: implements [`crate::server::App`] for channelstream, runs the hub thread and
//! routes hub output to connections through [`crate::server::Handle`].
