//! `autoglm train --task graph` (being written).

use crate::report::RunFile;
use crate::{PredictArgs, TrainArgs};
use anyhow::Result;
use autoglm::checkpoint::Checkpoint;

pub fn train(_args: &TrainArgs, _file: &RunFile) -> Result<()> {
    anyhow::bail!("graph classification is not available in this build yet")
}

pub fn predict(_args: &PredictArgs, _ck: &Checkpoint) -> Result<()> {
    anyhow::bail!("graph classification is not available in this build yet")
}
