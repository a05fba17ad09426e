//! The derived indicators a card business reads, defined once so the profile computes
//! them and the naming rules may name them.

/// A derived indicator: a ratio of column sums, or a column mean, with a business name.
#[derive(Debug, Clone, Copy)]
pub enum Derived {
    /// sum(numerator) / sum(denominator), guarded against a zero denominator.
    Ratio(&'static str, &'static str),
    /// The mean of one column.
    Mean(&'static str),
}

/// The derived indicators, by name. Ratios of sums (not means of ratios) so one customer
/// with a tiny limit or balance cannot dominate a segment.
pub const DERIVED: &[(&str, &str, Derived)] = &[
    (
        "utilisation",
        "credit utilisation (balance / credit limit)",
        Derived::Ratio("BALANCE", "CREDIT_LIMIT"),
    ),
    (
        "payment_ratio",
        "payments / balance",
        Derived::Ratio("PAYMENTS", "BALANCE"),
    ),
    (
        "full_payment",
        "share of months paid in full",
        Derived::Mean("PRC_FULL_PAYMENT"),
    ),
    (
        "cash_advance_share",
        "cash advance / (purchases + cash advance)",
        Derived::Ratio("CASH_ADVANCE", "PURCHASES+CASH_ADVANCE"),
    ),
    (
        "purchase_frequency",
        "purchase frequency (0..1)",
        Derived::Mean("PURCHASES_FREQUENCY"),
    ),
    ("tenure", "months of card service", Derived::Mean("TENURE")),
];
