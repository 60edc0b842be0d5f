//! `labview`: the lab's healthy picture for `lab/cluster.sh`. Reads
//! `crm_mon -1 -A --output-as=xml` on stdin.
//!
//!   labview picture AGENT REP_MODE NODE...  exit 0 when whole, else 1 and
//!                                           what is missing on stdout;
//!                                           AGENT ours, stock, paf, or
//!                                           auto: the one crm_mon shows;
//!                                           REP_MODE sync, async, quorum
//!                                           or quorum:K (quorum_standbys)
//!   labview primary                         the promoted node (exit 1: none
//!                                           or several)
//!   labview role NODE                       Promoted, Unpromoted or Stopped
//!   labview attr NODE NAME                  a node attribute (exit 1: none)

use labview::{missing, Agent, Expected, Mode, Picture};
use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut xml = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut xml) {
        eprintln!("labview: stdin: {e}");
        return ExitCode::from(2);
    }
    let picture = match Picture::parse(&xml) {
        Ok(p) => p,
        Err(e) => {
            println!("{}", e.0);
            return ExitCode::FAILURE;
        }
    };
    let answer = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["picture", agent, rep_mode, nodes @ ..] => {
            let agent = match *agent {
                // Several agents, or none: the picture says which it sees.
                "auto" => Agent::shown(&picture).unwrap_or(Agent::Ours),
                word => match Agent::parse(word) {
                    Some(a) => a,
                    None => {
                        eprintln!("labview: unknown agent {word}");
                        return ExitCode::from(2);
                    }
                },
            };
            let Some(mode) = Mode::parse(rep_mode) else {
                eprintln!("labview: unknown rep_mode {rep_mode}");
                return ExitCode::from(2);
            };
            let want = Expected {
                nodes: nodes.iter().map(|n| n.to_string()).collect(),
                agent,
                mode,
            };
            let missing = missing(&picture, &want);
            if missing.is_empty() {
                Some(String::new())
            } else {
                println!("{}", missing.join("; "));
                None
            }
        }
        ["primary"] => picture.primary().map(|n| format!("{n}\n")),
        ["role", node] => Some(format!("{}\n", picture.role(node))),
        ["attr", node, name] => picture.attr(node, name).map(|v| format!("{v}\n")),
        _ => {
            eprintln!("usage: labview picture AGENT REP_MODE NODE... | primary | role NODE | attr NODE NAME");
            return ExitCode::from(2);
        }
    };
    match answer {
        Some(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}
