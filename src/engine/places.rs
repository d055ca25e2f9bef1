//! What the assistant says when a handler answers a search with places: the top three, each
//! with its distance, briefly, then the question that "the second one" / "第二个" answers.

use crate::nlu::{Language, Place};

/// How many places are read out; the rest stay choosable ("the last one") but unread.
pub const READ_OUT: usize = 3;

/// "I found 3 places: first, Sushi Zen, 400 metres; second, … Which one?" in the turn's
/// language (zh-CN for Mandarin, English otherwise).
pub fn read_out(places: &[Place], language: &Language) -> String {
    let zh = language.primary() == "zh";
    let shown = &places[..places.len().min(READ_OUT)];
    let items: Vec<String> = shown
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let distance = p.distance_m.filter(|d| d.is_finite() && *d >= 0.0);
            match (zh, distance) {
                (false, Some(d)) => format!("{}, {}, {}", ORDINALS_EN[i], p.name, metres_en(d)),
                (false, None) => format!("{}, {}", ORDINALS_EN[i], p.name),
                (true, Some(d)) => format!("{}，{}，{}", ORDINALS_ZH[i], p.name, metres_zh(d)),
                (true, None) => format!("{}，{}", ORDINALS_ZH[i], p.name),
            }
        })
        .collect();
    match (zh, shown.len()) {
        (false, 1) => format!(
            "I found one place: {}. Shall I take you there?",
            items[0].trim_start_matches("first, ")
        ),
        (false, n) => format!("I found {n} places: {}. Which one?", items.join("; ")),
        (true, 1) => format!(
            "找到一个地方：{}。要导航过去吗？",
            items[0].trim_start_matches("第一个，")
        ),
        (true, n) => format!("找到{n}个地方：{}。去哪一个？", items.join("；")),
    }
}

const ORDINALS_EN: [&str; READ_OUT] = ["first", "second", "third"];
const ORDINALS_ZH: [&str; READ_OUT] = ["第一个", "第二个", "第三个"];

fn metres_en(d: f64) -> String {
    if d < 1000.0 {
        format!("{} metres", round_to(d, 10.0))
    } else {
        format!("{} kilometres", km(d))
    }
}

fn metres_zh(d: f64) -> String {
    if d < 1000.0 {
        format!("{}米", round_to(d, 10.0))
    } else {
        format!("{}公里", km(d))
    }
}

fn round_to(d: f64, step: f64) -> i64 {
    ((d / step).round() * step) as i64
}

/// Kilometres with one decimal, without a trailing ".0".
fn km(d: f64) -> String {
    let tenths = (d / 100.0).round() as i64;
    if tenths % 10 == 0 {
        format!("{}", tenths / 10)
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(name: &str, d: Option<f64>) -> Place {
        Place {
            name: name.into(),
            id: name.to_lowercase(),
            distance_m: d,
            ..Place::default()
        }
    }

    #[test]
    fn reads_the_top_three_with_distances_in_both_languages() {
        let ps = vec![
            place("Sushi Zen", Some(404.0)),
            place("Sakura", Some(1234.0)),
            place("Tokyo Bay", Some(2000.0)),
            place("Unread", Some(3000.0)),
        ];
        let en = read_out(&ps, &Language::parse("en").unwrap());
        assert_eq!(
            en,
            "I found 3 places: first, Sushi Zen, 400 metres; second, Sakura, 1.2 kilometres; third, Tokyo Bay, 2 kilometres. Which one?"
        );
        let zh = read_out(&ps, &Language::parse("zh-CN").unwrap());
        assert_eq!(
            zh,
            "找到3个地方：第一个，Sushi Zen，400米；第二个，Sakura，1.2公里；第三个，Tokyo Bay，2公里。去哪一个？"
        );
    }

    #[test]
    fn one_place_is_offered_as_a_question_and_a_missing_distance_is_left_out() {
        let ps = vec![place("Sushi Zen", None)];
        assert_eq!(
            read_out(&ps, &Language::parse("en").unwrap()),
            "I found one place: Sushi Zen. Shall I take you there?"
        );
        assert_eq!(
            read_out(&ps, &Language::parse("zh-CN").unwrap()),
            "找到一个地方：Sushi Zen。要导航过去吗？"
        );
    }
}
