//! The OCF entry point: argv[1] is the action, the environment is the rest.

use std::process::ExitCode;

fn main() -> ExitCode {
    let env: rustpg::ocf::env::RawEnv = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    rustpg::ocf::log::init(&env);
    let action = std::env::args_os()
        .nth(1)
        .map(|a| a.to_string_lossy().into_owned());
    rustpg::ocf::trace::init(&env, action.as_deref().unwrap_or(""));
    let rc = rustpg::run(action.as_deref(), &env);
    rustpg::ocf::trace::event(|| format!("=== exit {}", rc.code()));
    ExitCode::from(rc.code())
}
