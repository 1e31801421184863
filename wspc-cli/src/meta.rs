//! `wspc completions SHELL` and `wspc man`: generated from the clap definitions, so they
//! always match the binary.

use crate::BoxError;
use clap::Args;
use clap_complete::Shell;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `wspc completions`.
#[derive(Args, Debug, Clone)]
#[command(after_help = "\
Examples:
  wspc completions bash > ~/.local/share/bash-completion/completions/wspc
  wspc completions zsh > ~/.zfunc/_wspc        (with fpath+=~/.zfunc before compinit)
  wspc completions fish > ~/.config/fish/completions/wspc.fish")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_parser = ["bash", "zsh", "fish"])]
    pub shell: String,
}

/// Arguments of `wspc man`.
#[derive(Args, Debug, Clone)]
#[command(after_help = "\
Examples:
  wspc man | man -l -
  wspc man --dir /usr/local/share/man/man1     wspc.1, wspc-serve.1, wspc-connect.1, ...")]
pub struct ManArgs {
    /// Write wspc.1 and one page per subcommand (wspc-serve.1, ...) into this directory instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints the completion script for `cmd`.
pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> Result<ExitCode, BoxError> {
    let shell = match args.shell.as_str() {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        _ => Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "wspc", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Prints (or writes) the manual page(s) of `cmd`.
pub fn man(args: ManArgs, cmd: clap::Command) -> Result<ExitCode, BoxError> {
    match args.dir {
        Some(dir) => clap_mangen::generate_to(cmd, &dir)?,
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?,
    }
    Ok(ExitCode::SUCCESS)
}
