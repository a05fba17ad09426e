//! How a column is read: whether it is an additive amount (so "holds X% of all" means
//! something) and whether a numeric column is really a category code.

/// Name words that mark a column as a rate, share, frequency, score, age, tenure or other
/// non-additive measure: summing it over customers means nothing.
const NON_ADDITIVE_WORDS: &[&str] = &[
    "freq",
    "frequency",
    "rate",
    "ratio",
    "share",
    "prc",
    "pct",
    "percent",
    "percentage",
    "score",
    "age",
    "tenure",
    "index",
    "year",
    "years",
    "month",
    "months",
    "days",
    "avg",
    "average",
    "mean",
    "median",
    "prob",
    "probability",
    "rank",
    "rating",
    "level",
    "grade",
    "utilisation",
    "utilization",
    "pc",
];

/// Name words that mark an integer column as a quantity, never a category code.
const QUANTITY_WORDS: &[&str] = &[
    "tenure",
    "age",
    "year",
    "years",
    "month",
    "months",
    "days",
    "count",
    "trx",
    "num",
    "number",
    "qty",
    "quantity",
    "score",
    "freq",
    "frequency",
    "size",
    "children",
    "kids",
    "items",
    "visits",
    "orders",
    "transactions",
];

/// Lower-case words of a column name: "Spending Score (1-100)" → spending, score, 1, 100.
fn name_words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The documented additivity rule: a column is an additive amount (money, counts) when
/// no word of its name marks a rate, share, frequency, score, age or tenure
/// (`NON_ADDITIVE_WORDS`), no value is negative, and not every value lies in 0..1
/// (a fraction). Only such columns get "holds X% of all"; `--additive` overrides.
pub fn is_additive(name: &str, min: f64, max: f64) -> bool {
    let words = name_words(name);
    !words
        .iter()
        .any(|w| NON_ADDITIVE_WORDS.contains(&w.as_str()))
        && min >= 0.0
        && max > 1.0
}

/// Most distinct integer values a column may have to be detected as a code.
pub const MAX_CODE_VALUES: usize = 10;

/// Whether a numeric column looks like a category code (Region 1..3, Channel 1..2):
/// 2 to [`MAX_CODE_VALUES`] distinct integer values between -99 and 99, at least ten
/// customers per value, and a name that is not a quantity (tenure, age, counts...).
/// `--categorical` replaces this detection.
pub fn looks_like_code(name: &str, values: &[f64]) -> bool {
    let words = name_words(name);
    if words.iter().any(|w| QUANTITY_WORDS.contains(&w.as_str())) {
        return false;
    }
    let mut distinct: Vec<f64> = Vec::new();
    for &v in values {
        if v.is_nan() {
            continue;
        }
        if v.fract() != 0.0 || v.abs() > 99.0 {
            return false;
        }
        if !distinct.contains(&v) {
            if distinct.len() == MAX_CODE_VALUES {
                return false;
            }
            distinct.push(v);
        }
    }
    let present = values.iter().filter(|v| !v.is_nan()).count();
    distinct.len() >= 2 && present >= 10 * distinct.len()
}

/// Name words that suggest a protected attribute under fair-lending rules.
const PROTECTED_WORDS: &[&str] = &[
    "sex",
    "gender",
    "race",
    "racial",
    "ethnicity",
    "ethnic",
    "religion",
    "religious",
    "marital",
    "nationality",
    "ageband",
    "agegroup",
];

/// Whether a column's name suggests a protected attribute (sex, gender, race, ethnicity,
/// religion, marital status, nationality, an age band or group): such a column is
/// profiled only when the user names it, and then with a fair-lending caution.
pub fn looks_protected(name: &str) -> bool {
    let words = name_words(name);
    words.iter().any(|w| PROTECTED_WORDS.contains(&w.as_str()))
        || words.windows(2).any(|p| {
            p[0] == "age" && matches!(p[1].as_str(), "band" | "group" | "bracket" | "range")
        })
}

#[cfg(test)]
mod protected_tests {
    #[test]
    fn protected_names() {
        for n in [
            "Gender",
            "SEX",
            "race_code",
            "Ethnicity",
            "MARITAL_STATUS",
            "Age Band",
            "age_group",
        ] {
            assert!(super::looks_protected(n), "{n}");
        }
        for n in [
            "AGE",
            "BALANCE",
            "Spending Score (1-100)",
            "TENURE",
            "Essex_branch",
        ] {
            assert!(!super::looks_protected(n), "{n}");
        }
    }
}
