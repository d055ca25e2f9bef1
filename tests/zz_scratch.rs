use skylark::nlu::*;
#[test]
fn scratch() {
    let r = Recognizer::new(Grammar::builtin().unwrap()).unwrap();
    let ctx = DialogueContext::new();
    let text = std::fs::read_to_string("/tmp/holdout.txt").unwrap();
    let mut miss = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let lang = if line.chars().any(|c| c as u32 > 0x3000) { Language::mandarin() } else { Language::english() };
        let m = r.recognize(line, &lang, &ctx);
        if m.is_none() { miss += 1; }
        println!("{line:?} => {:?}", m.map(|m| (m.intent, m.slots)));
    }
    println!("MISSES {miss}");
}
