//! Integration tests: the real binary, real PostgreSQL 15 and 18, real
//! xmllint. Run as root (`cargo test`, or the README's test command).

mod haproxy;
mod lab;
mod load;
mod operator;
mod support;

mod architecture;

mod bench;
mod bench_lab;
mod cli;
mod cluster;
mod crm_examples;
mod ctl;
mod debian_layout;
mod dropin;
mod e2e;
mod errors;
mod faults;
mod hostile;
mod metadata;
mod nemesis;
mod on_five_nodes;
mod pacemaker_single;
mod pg11;
mod replication;
mod slave;
mod slots;
mod standalone;
mod tools;
mod unfenced;
mod upgrade;
mod vagrantfile;
