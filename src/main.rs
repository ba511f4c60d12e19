//! The `channelstream` binary.

fn main() {
    eprintln!("channelstream: not yet wired");
    std::process::exit(1);
}
