//! `cairn options`: the extended options `-o` accepts, as restic lists them.

use anyhow::Result;

/// `cairn options`: arguments are ignored, as restic ignores them.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(hide = true)]
    args: Vec<String>,
}

/// Prints every option of [`cairn::EXTENDED_OPTIONS`] (already sorted by
/// namespace and name) with its help text, names padded to the longest.
pub fn run(_args: Args) -> Result<()> {
    print!("{}", listing());
    Ok(())
}

fn listing() -> String {
    let name = |o: &cairn::ExtendedOption| format!("{}.{}", o.namespace, o.name);
    let width = cairn::EXTENDED_OPTIONS
        .iter()
        .map(|o| name(o).len())
        .max()
        .unwrap_or(0);
    let mut out = String::from("All Extended Options:\n");
    for o in cairn::EXTENDED_OPTIONS {
        out += &format!("  {:width$}  {}\n", name(o), o.help);
    }
    out
}
