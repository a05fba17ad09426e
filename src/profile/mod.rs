//! Business profile of each segment: size, share, mean and median of every numeric
//! column, each mean as an index against the portfolio (100 = average), and the derived
//! indicators a card business reads (utilisation, payment ratio, full-payment rate,
//! cash-advance share, purchase frequency, tenure) when their columns are present.

mod boxes;
mod categories;
mod indicators;
mod kinds;
mod numeric;
mod outcome;
mod segment;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

pub use boxes::{box_stats, BoxStats};
pub use categories::{
    category_figures, category_figures_from_counts, code_label, numeric_category_figures,
    CategoryFigures, MAX_CATEGORIES,
};
pub use indicators::{Derived, DERIVED};
pub use kinds::{is_additive, looks_like_code, looks_protected, MAX_CODE_VALUES};
pub use numeric::{assemble, assemble_sized, column_figures, ColumnFigures};
pub use outcome::{outcome_figures, outcome_from_sums, wilson, Outcome};
pub use segment::{CategoryMix, CategoryShare, Indicator, Profile, SegmentProfile, Stat};

use crate::table::Table;

/// Profiles every loaded numeric column (codes detected as categories, see
/// [`ProfileOptions`]). `labels` are 0-based segment indices.
pub fn profile(table: &Table, labels: &[u32], k: usize) -> Profile {
    profile_with(table, labels, k, &ProfileOptions::default())
}

/// How columns are read in the profile: which are categories, which are additive.
#[derive(Debug, Clone, Default)]
pub struct ProfileOptions {
    /// Columns always profiled as numbers: the clustering features, the profiling
    /// features the user named and the outcomes.
    pub features: Vec<String>,
    /// `--categorical`: exactly these columns are categories (None: detect codes).
    pub categorical: Option<Vec<String>>,
    /// `--additive`: exactly these columns are additive amounts (None: [`is_additive`]).
    pub additive: Option<Vec<String>>,
    /// Rows box plots are computed on (the dashboard's sample; empty: no box plots).
    pub box_rows: Vec<usize>,
}

impl ProfileOptions {
    /// Whether a numeric column is profiled as a category mix.
    pub fn is_categorical(&self, name: &str, values: &[f64]) -> bool {
        if self.features.iter().any(|f| f == name) {
            return false;
        }
        match &self.categorical {
            Some(list) => list.iter().any(|c| c == name),
            None => looks_like_code(name, values),
        }
    }
}

/// Figures of one column: numeric, or a category mix.
pub enum Figures {
    /// A numeric column's sums, counts, medians and spreads.
    Numeric(ColumnFigures),
    /// A categorical column's counts per value.
    Category(CategoryFigures),
}

/// The figures of one numeric column, as the options read it.
pub fn figures_of(
    name: &str,
    values: &[f64],
    labels: &[u32],
    k: usize,
    opts: &ProfileOptions,
) -> Figures {
    if opts.is_categorical(name, values) {
        Figures::Category(numeric_category_figures(values, labels, k))
    } else {
        let mut f = column_figures(values, labels, k);
        if !opts.box_rows.is_empty() {
            f.boxes = box_stats(values, labels, k, &opts.box_rows);
        }
        Figures::Numeric(f)
    }
}

/// [`profile`] with options.
pub fn profile_with(table: &Table, labels: &[u32], k: usize, opts: &ProfileOptions) -> Profile {
    let figures: Vec<Figures> = table
        .columns
        .par_iter()
        .map(|c| figures_of(&c.name, &c.values, labels, k, opts))
        .collect();
    let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    assemble_all(&names, figures, labels, k, opts)
}

/// Builds the profile from the figures of the columns `names` (in that order), numeric
/// and categorical.
pub fn assemble_all(
    names: &[&str],
    figures: Vec<Figures>,
    labels: &[u32],
    k: usize,
    opts: &ProfileOptions,
) -> Profile {
    assemble_all_sized(names, figures, &sizes(labels, k), opts)
}

/// Customers per segment of 0-based `labels`.
fn sizes(labels: &[u32], k: usize) -> Vec<u64> {
    let mut sizes = vec![0u64; k];
    for &l in labels {
        sizes[l as usize] += 1;
    }
    sizes
}

/// [`assemble_all`] from the customers of each segment (`sizes`, one per segment), for
/// figures computed where the labels are (an engine such as Spark).
pub fn assemble_all_sized(
    names: &[&str],
    figures: Vec<Figures>,
    sizes: &[u64],
    opts: &ProfileOptions,
) -> Profile {
    let mut numeric_names = Vec::new();
    let mut numeric = Vec::new();
    let mut cats = Vec::new();
    for (name, f) in names.iter().zip(figures) {
        match f {
            Figures::Numeric(f) => {
                numeric_names.push(*name);
                numeric.push(f);
            }
            Figures::Category(c) => cats.push((*name, c)),
        }
    }
    let mut p = assemble_sized(&numeric_names, &numeric, sizes);
    if let Some(list) = &opts.additive {
        for g in std::iter::once(&mut p.portfolio).chain(p.segments.iter_mut()) {
            for s in &mut g.stats {
                s.additive = list.contains(&s.column);
            }
        }
    }
    for (name, c) in cats {
        p.attach_categories(name, &c);
    }
    p
}
