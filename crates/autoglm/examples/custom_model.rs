use autoglm::prelude::*;

struct Net(GcnConv, GatConv);
impl Module for Net {
    fn forward(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let h = self.0.forward_relu(g, &ctx.dropout_input(x, 0.5)?, ctx)?;
        self.1.forward(g, &ctx.dropout(&h, 0.5)?.into(), ctx)
    }
}

fn main() -> Result<()> {
    let data = NodeData::prepare(&load_node_dataset(&data_dir(None), "cora")?, true)?;
    let build = |p: &Params, d, c| Ok(Net(GcnConvConfig::new(d, 16).init(&p.pp("gcn"))?, GatConvConfig::new(16, c, 1).with_dropout(0.6).init(&p.pp("gat"))?));
    let mut acc = 0.0;
    for seed in 0..10 {
        let (run, model) = autoglm::tasks::node::train_module(&data, &NodeTrainConfig::recipe(ModelKind::Gcn).with_seed(seed), build, Hooks::default())?;
        checkpoint::save(&std::env::temp_dir().join("custom_model.safetensors"), &model.params, &serde_json::json!({"model": "gcn+gat", "seed": seed}))?;
        acc += run.test_acc.unwrap_or(0.0) / 10.0;
    }
    println!("GCN -> GAT on Cora: mean test accuracy {:.2} over seeds 0-9 (model selected on validation accuracy)", 100.0 * acc);
    Ok(())
}
