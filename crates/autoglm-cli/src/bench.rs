//! `autoglm bench` (being written).

use anyhow::Result;
use clap::Args;

#[derive(Args, Clone, Debug)]
pub struct BenchArgs {}

pub fn run(_args: &BenchArgs) -> Result<()> {
    anyhow::bail!("bench is not available in this build yet")
}
