//! Unit tests of segment naming: archetypes, qualifiers, feature names and rules files.

use super::*;
use crate::profile::{Indicator, Stat};
use crate::profile::{Profile, SegmentProfile};
use proptest::prelude::*;

fn seg(id: u32, ratios: &[(&str, f64)]) -> SegmentProfile {
    SegmentProfile {
        id,
        customers: 10,
        share: 0.1,
        stats: ratios
            .iter()
            .filter(|(c, _)| c.chars().any(|ch| ch.is_uppercase()))
            .map(|(c, r)| Stat {
                column: c.to_string(),
                mean: Some(*r),
                median: Some(*r),
                index: Some(r * 100.0),
                std: Some(0.5),
                nonzero_share: Some(0.5 * r.min(2.0)),
                additive: true,
                boxplot: None,
            })
            .collect(),
        indicators: ratios
            .iter()
            .filter(|(c, _)| !c.chars().any(|ch| ch.is_uppercase()))
            .map(|(c, r)| Indicator {
                name: c.to_string(),
                label: c.to_string(),
                value: Some(*r),
                index: Some(r * 100.0),
            })
            .collect(),
        categories: vec![],
        outcomes: vec![],
    }
}

const CC: &[&str] = &[
    "BALANCE",
    "PURCHASES",
    "CREDIT_LIMIT",
    "CASH_ADVANCE",
    "PURCHASES_TRX",
    "utilisation",
    "full_payment",
    "cash_advance_share",
    "purchase_frequency",
    "tenure",
];

fn cc_seg(id: u32, vals: &[f64]) -> SegmentProfile {
    let pairs: Vec<(&str, f64)> = CC.iter().copied().zip(vals.iter().copied()).collect();
    seg(id, &pairs)
}

fn profile(segs: Vec<SegmentProfile>) -> Profile {
    Profile {
        customers: 100,
        portfolio: cc_seg(0, &[1.0; 10]),
        segments: segs,
    }
}

fn feats() -> Vec<String> {
    vec!["BALANCE".into(), "PURCHASES".into(), "CREDIT_LIMIT".into()]
}

#[test]
fn risky_big_balances_are_never_premium_and_names_stay_distinct() {
    // BALANCE, PURCHASES, CREDIT_LIMIT, CASH_ADVANCE, PURCHASES_TRX, util, full, cas, freq, tenure
    let p = profile(vec![
        cc_seg(1, &[5.3, 2.5, 2.8, 4.5, 2.0, 1.9, 0.07, 1.3, 1.0, 1.0]),
        cc_seg(2, &[0.8, 3.8, 3.0, 0.85, 2.4, 0.26, 2.3, 0.37, 1.4, 1.0]),
        cc_seg(3, &[2.6, 1.1, 1.5, 2.6, 1.1, 1.8, 0.07, 1.4, 0.9, 1.0]),
        cc_seg(4, &[0.5, 0.1, 0.5, 0.5, 0.1, 1.0, 0.9, 1.0, 0.2, 1.0]),
    ]);
    let n = name_segments(&p, &Rules::default_rules(), &feats());
    assert_eq!(n.basis, Basis::CreditCard);
    let names: Vec<&str> = n.names.iter().map(|x| x.name.as_str()).collect();
    assert!(!names[0].contains("Premium"), "{names:?}");
    assert!(
        names[0].contains("Revolv") || names[0].contains("Cash"),
        "{names:?}"
    );
    assert!(names[1].contains("Premium"), "{names:?}");
    assert!(names[3].contains("Dormant"), "{names:?}");
    assert!(
        n.names[0].rationale.contains("Runner-up"),
        "{}",
        n.names[0].rationale
    );
    let mut u = names.clone();
    u.sort();
    u.dedup();
    assert_eq!(u.len(), 4);
}

#[test]
fn twins_get_words_not_numbers() {
    let p = profile(vec![
        cc_seg(1, &[2.5, 0.5, 1.0, 0.5, 0.5, 1.8, 0.2, 0.5, 0.9, 1.0]),
        cc_seg(2, &[3.5, 0.9, 1.2, 0.6, 0.9, 1.9, 0.3, 0.5, 0.9, 1.0]),
    ]);
    let n = name_segments(&p, &Rules::default_rules(), &feats());
    let (a, b) = (&n.names[0].name, &n.names[1].name);
    assert_ne!(a, b);
    assert!(
        !a.chars().chain(b.chars()).any(|c| c.is_ascii_digit()),
        "{a} / {b}"
    );
    assert!(a.contains(" — ") && b.contains(" — "), "{a} / {b}");
}

#[test]
fn other_tables_are_named_from_their_features() {
    let mk = |id, inc: f64, sc: f64| {
        seg(
            id,
            &[("Annual Income (k$)", inc), ("Spending Score (1-100)", sc)],
        )
    };
    let p = Profile {
        customers: 100,
        portfolio: mk(0, 1.0, 1.0),
        segments: vec![mk(1, 0.5, 1.8), mk(2, 1.6, 0.4)],
    };
    let f = vec![
        "Annual Income (k$)".to_string(),
        "Spending Score (1-100)".to_string(),
    ];
    let n = name_segments(&p, &Rules::default_rules(), &f);
    assert_eq!(n.basis, Basis::Features);
    assert_eq!(n.names[0].name, "Low Annual Income, High Spending Score");
    assert_eq!(n.names[1].name, "High Annual Income, Low Spending Score");
    assert_ne!(n.names[0].action, n.names[1].action);
}

#[test]
fn custom_rules_and_bad_files() {
    let r = Rules::parse(
        "[[rule]]\nname = \"Big\"\nwhen = [\"BALANCE > 2\"]\nunless = [\"PURCHASES:median < 0.5\"]\naction = \"call\"\n",
        "r.toml",
        true,
    )
    .unwrap();
    let p = profile(vec![cc_seg(
        1,
        &[3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    )]);
    r.check_metrics(&p).unwrap();
    let n = name_segments(&p, &r, &feats());
    assert_eq!(n.basis, Basis::Custom);
    assert_eq!(n.names[0].name, "Big");
    let e = Rules::parse(
        "[[rule]]\nname = \"x\"\nwhen = [\"BALANCE ~ 2\"]\n",
        "r.toml",
        true,
    )
    .unwrap_err();
    assert!(e.to_string().contains("not of the form"), "{e}");
    let e = Rules::parse("[[rule]\nname=", "r.toml", true).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("r.toml: line 1: invalid naming rules"),
        "{e}"
    );
    let r = Rules::parse(
        "[[rule]]\nname = \"x\"\nwhen = [\"NOPE >= 2\"]\n",
        "r.toml",
        true,
    )
    .unwrap();
    assert!(r
        .check_metrics(&p)
        .unwrap_err()
        .to_string()
        .contains("unknown metric NOPE"));
    let e = Rules::parse(
        "[[rule]]\nname = \"x\"\n[[rule]]\nname = \"x\"\n",
        "r.toml",
        true,
    )
    .unwrap_err();
    assert!(e.to_string().contains("used by an earlier rule"), "{e}");
}

proptest! {
    #[test]
    fn every_profile_gets_a_distinct_name_without_digits(
        k in 1usize..=12,
        ratios in proptest::collection::vec(proptest::collection::vec(0.0f64..5.0, 10), 12),
    ) {
        let segs: Vec<SegmentProfile> = (0..k)
            .map(|i| cc_seg(i as u32 + 1, &ratios[i]))
            .collect();
        let p = profile(segs);
        let names = name_segments(&p, &Rules::default_rules(), &feats()).names;
        prop_assert_eq!(names.len(), k);
        let mut uniq: Vec<&String> = names.iter().map(|n| &n.name).collect();
        uniq.sort();
        uniq.dedup();
        prop_assert_eq!(uniq.len(), k);
        prop_assert!(names.iter().all(|n| !n.name.is_empty() && !n.action.is_empty()));
        prop_assert!(names.iter().all(|n| !n.name.chars().any(|c| c.is_ascii_digit())));
    }
}

/// Two rules that both fit two segments: the fresh assignment gives each segment the
/// rule it fits best, but continued segments keep their previous names while those still
/// fit; a name whose condition fails is dropped with the condition stated.
#[test]
fn continued_segments_keep_names_that_still_fit_and_never_trade_them() {
    let r = Rules::parse(
        "[[rule]]\nname = \"Alpha\"\nwhen = [\"BALANCE >= 1.2\"]\naction = \"a\"\n\n[[rule]]\nname = \"Beta\"\nwhen = [\"PURCHASES >= 1.2\"]\naction = \"b\"\n",
        "r.toml",
        true,
    )
    .unwrap();
    // Segment 1 fits Alpha better, segment 2 Beta; both fit both.
    let p = profile(vec![
        cc_seg(1, &[2.4, 1.3, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
        cc_seg(2, &[1.3, 2.4, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    ]);
    let fresh = name_segments(&p, &r, &feats());
    assert_eq!(fresh.names[0].name, "Alpha");
    assert_eq!(fresh.names[1].name, "Beta");
    // Last month they were the other way round: both names still hold, so both stay.
    let prev = vec![Some("Beta".to_string()), Some("Alpha".to_string())];
    let kept = name_segments_keeping(&p, &r, &feats(), &prev);
    assert_eq!(kept.names[0].name, "Beta");
    assert_eq!(kept.names[1].name, "Alpha");
    assert_eq!(kept.renamed_because, vec![None, None]);
    // Segment 2's BALANCE falls below Alpha's condition: it loses Alpha, says why, and
    // does not take Beta, which segment 1 held before.
    let p2 = profile(vec![
        cc_seg(1, &[2.4, 1.3, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
        cc_seg(2, &[1.1, 2.4, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    ]);
    let n = name_segments_keeping(&p2, &r, &feats(), &prev);
    assert_eq!(n.names[0].name, "Beta");
    assert_ne!(n.names[1].name, "Alpha");
    assert_ne!(n.names[1].name, "Beta");
    let why = n.renamed_because[1].as_deref().unwrap();
    assert!(
        why.contains("BALANCE at least 1.2 no longer holds"),
        "{why}"
    );
}
