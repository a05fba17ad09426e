//! [`Labels`]: the segment of every input row, in input order. One type for every place that
//! hands labels on — labels.csv, `predict`'s output, the database write-back, retrain
//! continuity — so "which customer got which segment, and who was not scored" is answered
//! once, whatever stage dropped a row.

use crate::table::Ids;

/// The segment of every input row: its id and its 0-based segment index, or none for a row
/// that was not scored (dropped for a missing value). Borrows the ids and segment indices
/// of whoever computed them: writing ten million labels copies nothing.
#[derive(Clone, Copy)]
pub struct Labels<'a> {
    ids: &'a Ids,
    rows: Rows<'a>,
}

#[derive(Clone, Copy)]
enum Rows<'a> {
    /// Every row scored: the segment of row i.
    All(&'a [u32]),
    /// Rows kept by a mask; the segments of the kept rows, in order.
    Kept {
        kept: &'a [bool],
        segments: &'a [u32],
    },
    /// A segment or none for every row (scoring by a saved model).
    PerRow(&'a [Option<u32>]),
}

/// One input row's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label<'a> {
    /// Position of the row in the input.
    pub row: usize,
    /// The row's customer id.
    pub id: &'a str,
    /// 0-based segment index, or None when the row was not scored.
    pub segment: Option<u32>,
    /// Position among the values the labeller computed per scored row (distances, say):
    /// the kept-row index when rows were dropped by a mask, otherwise `row`.
    pub scored: usize,
}

impl<'a> Labels<'a> {
    /// Every row of `ids` scored: `segments[i]` is row i's.
    pub fn all(ids: &'a Ids, segments: &'a [u32]) -> Self {
        debug_assert_eq!(ids.len(), segments.len());
        Labels {
            ids,
            rows: Rows::All(segments),
        }
    }

    /// Rows of `ids` kept where `kept` is true; `segments` holds the kept rows' segments.
    pub fn kept(ids: &'a Ids, kept: &'a [bool], segments: &'a [u32]) -> Self {
        debug_assert_eq!(ids.len(), kept.len());
        Labels {
            ids,
            rows: Rows::Kept { kept, segments },
        }
    }

    /// A segment or none for every row of `ids`.
    pub fn per_row(ids: &'a Ids, segments: &'a [Option<u32>]) -> Self {
        debug_assert_eq!(ids.len(), segments.len());
        Labels {
            ids,
            rows: Rows::PerRow(segments),
        }
    }

    /// Number of input rows (scored or not).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Every row's label, in input order.
    pub fn iter(&self) -> impl Iterator<Item = Label<'a>> + 'a {
        let ids = self.ids;
        let rows = self.rows;
        let mut next_kept = 0usize;
        (0..ids.len()).map(move |row| {
            let id = ids.get(row);
            let (segment, scored) = match rows {
                Rows::All(s) => (Some(s[row]), row),
                Rows::PerRow(s) => (s[row], row),
                Rows::Kept { kept, segments } => {
                    if kept[row] {
                        next_kept += 1;
                        (Some(segments[next_kept - 1]), next_kept - 1)
                    } else {
                        (None, next_kept)
                    }
                }
            };
            Label {
                row,
                id,
                segment,
                scored,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Ids {
        let mut ids = Ids::default();
        (0..n).for_each(|i| ids.push(&format!("c{i}")));
        ids
    }

    #[test]
    fn the_three_forms_give_the_same_rows() {
        let ids = ids(4);
        let kept = [true, false, true, true];
        let seg = [2, 0, 1];
        let per_row = [Some(2), None, Some(0), Some(1)];
        let a: Vec<(usize, &str, Option<u32>)> = Labels::kept(&ids, &kept, &seg)
            .iter()
            .map(|l| (l.row, l.id, l.segment))
            .collect();
        let b: Vec<(usize, &str, Option<u32>)> = Labels::per_row(&ids, &per_row)
            .iter()
            .map(|l| (l.row, l.id, l.segment))
            .collect();
        assert_eq!(a, b);
        assert_eq!(a[1], (1, "c1", None));
        let scored: Vec<usize> = Labels::kept(&ids, &kept, &seg)
            .iter()
            .filter(|l| l.segment.is_some())
            .map(|l| l.scored)
            .collect();
        assert_eq!(scored, [0, 1, 2]);
        let all = [1, 1, 0, 0];
        let c: Vec<Option<u32>> = Labels::all(&ids, &all).iter().map(|l| l.segment).collect();
        assert_eq!(c, [Some(1), Some(1), Some(0), Some(0)]);
    }
}
