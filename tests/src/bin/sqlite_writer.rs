//! A writer process for the SQLite multi-process test: `sqlite_writer FILE WRITER` appends
//! its share of events to FILE, drains the queue, prints `RECEIVED <id>` per message and
//! `DONE` at the end.

use leadq_tests::shared_file::write_and_drain;
use std::path::PathBuf;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(writer)) = (args.next(), args.next()) else {
        eprintln!("usage: sqlite_writer FILE WRITER");
        std::process::exit(2);
    };
    let Ok(writer) = writer.parse::<usize>() else {
        eprintln!("sqlite_writer: WRITER must be a number, got {writer}");
        std::process::exit(2);
    };
    for id in write_and_drain(&PathBuf::from(path), writer).await {
        println!("RECEIVED {id}");
    }
    println!("DONE");
}
