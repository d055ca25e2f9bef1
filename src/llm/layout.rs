//! Which decoder I/O layout a model uses, found from its input/output names and shapes plus
//! its config files, so models exported by different tools load without code changes.

use std::path::Path;

use super::{LlmError, Result};

/// The element type of the KV cache tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvElement {
    F32,
}

/// The decoder's I/O contract, as detected at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderLayout {
    pub num_layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub kv_element: KvElement,
    pub has_attention_mask: bool,
    pub has_position_ids: bool,
    /// `past_key_values.{i}.{key|value}` names, in feed order (layer-major, key first).
    pub past_names: Vec<String>,
    /// The matching `present.{i}.{key|value}` names.
    pub present_names: Vec<String>,
    /// Longest sequence the model was trained for (0 when unknown).
    pub max_positions: usize,
}

/// One graph input or output as the detector sees it: name, element type, dims (-1 when
/// dynamic).
#[derive(Debug, Clone)]
pub struct PortInfo {
    pub name: String,
    pub elem: Option<ort::value::TensorElementType>,
    pub dims: Vec<i64>,
}

/// Model hyper-parameters read from `config.json` (HF) or `genai_config.json`
/// (onnxruntime-genai), whichever exists.
#[derive(Debug, Clone, Default)]
pub struct ModelConfig {
    pub kv_heads: Option<usize>,
    pub head_dim: Option<usize>,
    pub max_positions: Option<usize>,
    pub eos_ids: Vec<u32>,
}

impl ModelConfig {
    pub fn read(dir: &Path) -> Result<Self> {
        let mut cfg = ModelConfig::default();
        let hf = dir.join("config.json");
        if hf.is_file() {
            let v = read_json(&hf)?;
            let heads = get_usize(&v, "num_attention_heads");
            cfg.kv_heads = get_usize(&v, "num_key_value_heads").or(heads);
            cfg.head_dim = get_usize(&v, "head_dim").or_else(|| {
                let hidden = get_usize(&v, "hidden_size")?;
                heads.filter(|h| *h > 0).map(|h| hidden / h)
            });
            cfg.max_positions = get_usize(&v, "max_position_embeddings");
            cfg.eos_ids.extend(ids_of(v.get("eos_token_id")));
        }
        let genai = dir.join("genai_config.json");
        if genai.is_file() {
            let v = read_json(&genai)?;
            let dec = &v["model"]["decoder"];
            cfg.kv_heads = cfg
                .kv_heads
                .or_else(|| get_usize(dec, "num_key_value_heads"));
            cfg.head_dim = cfg.head_dim.or_else(|| get_usize(dec, "head_size"));
            cfg.max_positions = cfg
                .max_positions
                .or_else(|| get_usize(&v["model"], "context_length"));
            cfg.eos_ids.extend(ids_of(v["model"].get("eos_token_id")));
        }
        let gen = dir.join("generation_config.json");
        if gen.is_file() {
            let v = read_json(&gen)?;
            cfg.eos_ids.extend(ids_of(v.get("eos_token_id")));
        }
        cfg.eos_ids.sort_unstable();
        cfg.eos_ids.dedup();
        Ok(cfg)
    }
}

pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| LlmError::Config {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| LlmError::Config {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn get_usize(v: &serde_json::Value, key: &str) -> Option<usize> {
    v.get(key)?.as_u64().and_then(|n| usize::try_from(n).ok())
}

fn ids_of(v: Option<&serde_json::Value>) -> Vec<u32> {
    match v {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_u64())
            .filter_map(|n| u32::try_from(n).ok())
            .collect(),
        Some(x) => x
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .into_iter()
            .collect(),
        None => Vec::new(),
    }
}

/// Work out the layout, or say precisely why the model does not fit one.
pub fn detect(
    model: &Path,
    inputs: &[PortInfo],
    outputs: &[PortInfo],
    cfg: &ModelConfig,
) -> Result<DecoderLayout> {
    let unsupported = |reason: String| LlmError::UnsupportedLayout {
        path: model.to_path_buf(),
        reason,
        inputs: inputs.iter().map(|p| p.name.clone()).collect(),
        outputs: outputs.iter().map(|p| p.name.clone()).collect(),
    };
    let input = |name: &str| inputs.iter().find(|p| p.name == name);
    let output = |name: &str| outputs.iter().find(|p| p.name == name);
    if input("input_ids").is_none() {
        return Err(unsupported("no `input_ids` input".into()));
    }
    if output("logits").is_none() {
        return Err(unsupported("no `logits` output".into()));
    }
    // Every input must be one we know how to feed.
    for p in inputs {
        let known = matches!(
            p.name.as_str(),
            "input_ids" | "attention_mask" | "position_ids"
        ) || layer_of(&p.name, "past_key_values.").is_some();
        if !known {
            return Err(unsupported(format!(
                "input `{}` is not one skylark can feed",
                p.name
            )));
        }
    }
    let layers = inputs
        .iter()
        .filter_map(|p| layer_of(&p.name, "past_key_values."))
        .map(|(l, _)| l);
    let num_layers = match layers.max() {
        Some(max) => max + 1,
        None => {
            return Err(unsupported(
                "no `past_key_values.N.key/value` inputs (a model without a KV cache)".into(),
            ))
        }
    };
    let mut past_names = Vec::with_capacity(num_layers * 2);
    let mut present_names = Vec::with_capacity(num_layers * 2);
    for l in 0..num_layers {
        for kind in ["key", "value"] {
            let past = format!("past_key_values.{l}.{kind}");
            let present = format!("present.{l}.{kind}");
            if input(&past).is_none() {
                return Err(unsupported(format!("input `{past}` missing")));
            }
            if output(&present).is_none() {
                return Err(unsupported(format!("output `{present}` missing")));
            }
            past_names.push(past);
            present_names.push(present);
        }
    }
    let first = input(&past_names[0]).ok_or_else(|| unsupported("no past input".into()))?;
    let kv_element = match first.elem {
        Some(ort::value::TensorElementType::Float32) => KvElement::F32,
        other => {
            return Err(unsupported(format!(
                "KV cache element type {other:?} (only float32 is supported)"
            )))
        }
    };
    if first.dims.len() != 4 {
        return Err(unsupported(format!(
            "past tensors have rank {} (expected 4: batch, kv heads, length, head dim)",
            first.dims.len()
        )));
    }
    let dim = |i: usize| usize::try_from(first.dims[i]).ok().filter(|d| *d > 0);
    let kv_heads = dim(1).or(cfg.kv_heads).ok_or_else(|| {
        unsupported(
            "the number of KV heads is neither in the past shapes nor in config.json".into(),
        )
    })?;
    let head_dim = dim(3).or(cfg.head_dim).ok_or_else(|| {
        unsupported("the head size is neither in the past shapes nor in config.json".into())
    })?;
    Ok(DecoderLayout {
        num_layers,
        kv_heads,
        head_dim,
        kv_element,
        has_attention_mask: input("attention_mask").is_some(),
        has_position_ids: input("position_ids").is_some(),
        past_names,
        present_names,
        max_positions: cfg.max_positions.unwrap_or(0),
    })
}

/// `past_key_values.12.key` -> (12, "key").
fn layer_of<'a>(name: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let rest = name.strip_prefix(prefix)?;
    let (n, kind) = rest.split_once('.')?;
    if kind != "key" && kind != "value" {
        return None;
    }
    Some((n.parse().ok()?, kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ort::value::TensorElementType as E;

    fn port(name: &str, elem: E, dims: &[i64]) -> PortInfo {
        PortInfo {
            name: name.into(),
            elem: Some(elem),
            dims: dims.to_vec(),
        }
    }

    fn optimum(layers: usize, with_pos: bool) -> (Vec<PortInfo>, Vec<PortInfo>) {
        let mut i = vec![
            port("input_ids", E::Int64, &[-1, -1]),
            port("attention_mask", E::Int64, &[-1, -1]),
        ];
        if with_pos {
            i.push(port("position_ids", E::Int64, &[-1, -1]));
        }
        let mut o = vec![port("logits", E::Float32, &[-1, -1, 100])];
        for l in 0..layers {
            for k in ["key", "value"] {
                i.push(port(
                    &format!("past_key_values.{l}.{k}"),
                    E::Float32,
                    &[-1, 2, -1, 16],
                ));
                o.push(port(
                    &format!("present.{l}.{k}"),
                    E::Float32,
                    &[-1, 2, -1, 16],
                ));
            }
        }
        (i, o)
    }

    #[test]
    fn detects_layers_heads_and_position_ids() {
        let (i, o) = optimum(4, true);
        let l = detect(Path::new("m.onnx"), &i, &o, &ModelConfig::default()).unwrap();
        assert_eq!((l.num_layers, l.kv_heads, l.head_dim), (4, 2, 16));
        assert!(l.has_position_ids && l.has_attention_mask);
        assert_eq!(l.past_names[7], "past_key_values.3.value");
        assert_eq!(l.present_names[0], "present.0.key");
    }

    #[test]
    fn genai_layout_without_position_ids_takes_sizes_from_config() {
        let (mut i, o) = optimum(2, false);
        for p in i.iter_mut().filter(|p| p.name.starts_with("past")) {
            p.dims = vec![-1, -1, -1, -1];
        }
        let cfg = ModelConfig {
            kv_heads: Some(3),
            head_dim: Some(64),
            ..Default::default()
        };
        let l = detect(Path::new("m.onnx"), &i, &o, &cfg).unwrap();
        assert!(!l.has_position_ids);
        assert_eq!((l.kv_heads, l.head_dim), (3, 64));
    }

    #[test]
    fn unknown_layout_lists_what_it_found() {
        let i = vec![port("input_features", E::Float32, &[-1, 80, 3000])];
        let o = vec![port("last_hidden_state", E::Float32, &[-1, -1, 384])];
        let err = detect(Path::new("enc.onnx"), &i, &o, &ModelConfig::default()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("input_features") && msg.contains("last_hidden_state"),
            "{msg}"
        );
        assert!(msg.contains("enc.onnx"), "{msg}");
    }

    #[test]
    fn missing_present_output_is_reported() {
        let (i, mut o) = optimum(2, true);
        o.retain(|p| p.name != "present.1.value");
        let err = detect(Path::new("m.onnx"), &i, &o, &ModelConfig::default()).unwrap_err();
        assert!(err.to_string().contains("present.1.value"), "{err}");
    }
}
