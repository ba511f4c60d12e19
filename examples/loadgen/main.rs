//! Load generator for channelstream servers (ours and the Python reference): many
//! websocket or long-poll subscribers multiplexed on a few mio loops, publishers on
//! keep-alive HTTP, latency/loss/duplicate accounting. See docs/LOADGEN.md.
//! Progress goes to stderr; the last line on stdout is one JSON object with the results.

mod args;
mod frame;
mod histogram;
mod http;
mod net;
mod payload;
mod procstat;
mod publisher;
mod rng;
mod run;
mod seqmap;
mod shared;
mod sink;
mod stats;
mod sub;
mod wire;
mod worker;

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() || argv.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", args::USAGE);
        return ExitCode::SUCCESS;
    }
    let args = match args::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    match run::run(&args) {
        Ok(result) => {
            println!("{result}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            println!(
                "{}",
                serde_json::json!({"error": e.to_string(), "mode": args.mode.name()})
            );
            ExitCode::from(1)
        }
    }
}
