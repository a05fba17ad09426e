//! The Sankey diagram of customer flows since the `--previous` run.

use serde::Serialize;

use super::style::color;

/// The Sankey diagram's data: earlier segments on the left, this run's on the right.
#[derive(Serialize)]
pub struct FlowsData<'a> {
    /// Earlier segments: (id, name, customers compared).
    pub before: Vec<(u32, &'a str, u64)>,
    /// This run's segments: (id, name, customers compared, colour).
    pub after: Vec<(u32, &'a str, u64, String)>,
    /// (from id, to id, customers).
    pub links: Vec<(u32, u32, u64)>,
    /// Customers only in this run, not part of any flow.
    pub new_customers: u64,
    /// Customers only in the earlier run.
    pub gone_customers: u64,
}

/// The Sankey's data from a migration: flows summed per earlier and per later segment,
/// later segments in model order with their page colours.
pub(super) fn flows_data<'a>(
    m: &crate::model::Model,
    mig: &'a crate::lifecycle::migration::Migration,
) -> FlowsData<'a> {
    let mut before: Vec<(u32, &str, u64)> = Vec::new();
    let mut after: Vec<(u32, &str, u64, String)> = Vec::new();
    for f in &mig.flows {
        match before.iter_mut().find(|b| b.0 == f.from_segment) {
            Some(b) => b.2 += f.customers,
            None => before.push((f.from_segment, &f.from_name, f.customers)),
        }
        match after.iter_mut().find(|a| a.0 == f.to_segment) {
            Some(a) => a.2 += f.customers,
            None => {
                let c = m
                    .index_of_id(f.to_segment)
                    .map_or("#999999".to_string(), color);
                after.push((f.to_segment, &f.to_name, f.customers, c))
            }
        }
    }
    after.sort_by_key(|a| m.index_of_id(a.0));
    FlowsData {
        before,
        after,
        links: mig
            .flows
            .iter()
            .map(|f| (f.from_segment, f.to_segment, f.customers))
            .collect(),
        new_customers: mig.new_customers,
        gone_customers: mig.gone_customers,
    }
}
