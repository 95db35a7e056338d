//! `autoglm train --task link` (being written).

use crate::report::RunFile;
use crate::{PredictArgs, TrainArgs};
use anyhow::Result;
use clap::Args;
use autoglm::checkpoint::Checkpoint;

pub fn train(_args: &TrainArgs, _file: &RunFile) -> Result<()> {
    anyhow::bail!("link prediction is not available in this build yet")
}

pub fn predict(_args: &PredictArgs, _ck: &Checkpoint) -> Result<()> {
    anyhow::bail!("link prediction is not available in this build yet")
}

/// Arguments of `autoglm robustness`.
#[derive(Args, Clone, Debug)]
pub struct RobustnessArgs {}

pub fn robustness(_args: &RobustnessArgs) -> Result<()> {
    anyhow::bail!("robustness is not available in this build yet")
}
