//! `generate`: man pages and shell completion files, from the same
//! command definitions the parser uses, so they never fall out of date.

use anyhow::{bail, Context, Result};
use clap_complete::Shell;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Flags of `cairn generate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write bash completion file ("-" for standard output)
    #[arg(long, value_name = "file")]
    bash_completion: Option<PathBuf>,
    /// Write fish completion file ("-" for standard output)
    #[arg(long, value_name = "file")]
    fish_completion: Option<PathBuf>,
    /// Write zsh completion file ("-" for standard output)
    #[arg(long, value_name = "file")]
    zsh_completion: Option<PathBuf>,
    /// Write powershell completion file ("-" for standard output)
    #[arg(long, value_name = "file")]
    powershell_completion: Option<PathBuf>,
    /// Write man pages to directory
    #[arg(long, value_name = "directory")]
    man: Option<PathBuf>,
}

/// Writes what the flags ask for; `cli` is the whole command tree.
pub fn run(args: Args, mut cli: clap::Command) -> Result<()> {
    let completions = [
        (Shell::Bash, "bash", &args.bash_completion),
        (Shell::Fish, "fish", &args.fish_completion),
        (Shell::Zsh, "zsh", &args.zsh_completion),
        (Shell::PowerShell, "powershell", &args.powershell_completion),
    ];
    if args.man.is_none() && completions.iter().all(|(_, _, f)| f.is_none()) {
        bail!("nothing to do, please specify at least one output file/dir");
    }
    cli.build();
    if let Some(dir) = &args.man {
        println!("writing man pages to directory {}", dir.display());
        write_man_pages(&cli, dir)?;
    }
    for (shell, name, file) in completions {
        let Some(file) = file else { continue };
        if file.as_os_str() != "-" {
            println!("writing {name} completion file to {}", file.display());
        }
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cli, "cairn", &mut out);
        write_output(file, &out)?;
    }
    Ok(())
}

/// `cairn.1`, then `cairn-COMMAND.1` for every visible command.
fn write_man_pages(cli: &clap::Command, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("unable to create directory {}", dir.display()))?;
    render_page(cli.clone(), &dir.join("cairn.1"))?;
    let visible = cli
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help");
    for sub in visible {
        let name = format!("cairn-{}", sub.get_name());
        let page = sub.clone().name(name.clone());
        render_page(page, &dir.join(format!("{name}.1")))?;
    }
    Ok(())
}

fn render_page(cmd: clap::Command, path: &Path) -> Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .context("rendering man page")?;
    write_output(path, &out)
}

fn write_output(path: &Path, data: &[u8]) -> Result<()> {
    if path.as_os_str() == "-" {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(data)?;
        return Ok(stdout.flush()?);
    }
    std::fs::write(path, data).with_context(|| format!("unable to write {}", path.display()))
}
