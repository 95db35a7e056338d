//! `autoglm-infer MODEL.agx REQUEST.json`: classify the graphs of a request
//! (`{"graphs": [{"num_nodes": .., "edges": [[s, t], ..], "features": [[..], ..]}]}`)
//! with an exported graph model and print the JSON answer.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 {
        eprintln!("usage: autoglm-infer MODEL.agx REQUEST.json   (export a model with `autoglm export`)");
        std::process::exit(2);
    }
    let read = |p: &str| {
        std::fs::read(p).unwrap_or_else(|e| {
            eprintln!("error: cannot read {p}: {e}");
            std::process::exit(1)
        })
    };
    let answer = autoglm_infer::ffi::predict_graphs_json(&read(&args[0]), &read(&args[1]));
    println!("{answer}");
    if answer.starts_with("{\"error\"") {
        std::process::exit(1);
    }
}
