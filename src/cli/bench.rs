//! `poolscope bench`: throughput measured side by side in one run.

/// Options of `poolscope bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn main(_args: &BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("the benchmark is being written")
}
