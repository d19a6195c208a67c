use leadq_scoring::Model;
#[test]
fn show() {
    let base = leadq_scoring::model::DEFAULT_MODEL_TOML;
    for (from, to) in [
        ("[signals.pricing_view]\npoints = 10", "[signals.pricing_view]\npointz = 10"),
        ("version = \"rules-default-2026.11\"", "version = \"x\"\nbogus = 1"),
        ("fit = 30", "fit = \"thirty\""),
        ("c_level = 40", "chief = 40"),
        ("[fit.tech_stack]\ncap = 15", "[fit.tech_stack]\ncap = 15\ncapp = 3"),
    ] {
        assert!(base.contains(from), "{from}");
        let text = base.replacen(from, to, 1);
        println!("---- {:?}\n{}", to, Model::from_toml_str(&text).unwrap_err());
    }
}
