//! Runs one input file through one target: `cargo run -p ledger-fuzz --example run_one --
//! <target> <file>` (set `LEDGER_FUZZ_DEBUG=1` to print the decoded operations).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(name), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: run_one <target> <file>");
        std::process::exit(2);
    };
    let Some((_, target)) = ledger_fuzz::TARGETS.iter().find(|(n, _)| n == name) else {
        eprintln!("unknown target {name}");
        std::process::exit(2);
    };
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    target(&data);
    println!("{name}: {path}: ok");
}
