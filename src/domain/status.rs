//! The status vocabularies of the shared database (PRODUCT.md §4).

use std::fmt;

/// `purchase_orders.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoStatus {
    Draft,
    OnTheWay,
    PartiallyReceived,
    Received,
    Cancelled,
}

impl PoStatus {
    pub const ALL: [PoStatus; 5] = [
        PoStatus::Draft,
        PoStatus::OnTheWay,
        PoStatus::PartiallyReceived,
        PoStatus::Received,
        PoStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PoStatus::Draft => "draft",
            PoStatus::OnTheWay => "on_the_way",
            PoStatus::PartiallyReceived => "partially_received",
            PoStatus::Received => "received",
            PoStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// A synced order starts as a draft, unless 1688 has already closed it.
    pub fn for_new_synced_order(status_1688: &str) -> Self {
        if is_closed_on_1688(status_1688) {
            PoStatus::Cancelled
        } else {
            PoStatus::Draft
        }
    }

    /// The status after a re-sync: only a draft follows 1688 (into `cancelled`); once
    /// the ERP has submitted an order the workflow status is the ERP's.
    pub fn after_resync(self, status_1688: &str) -> Self {
        if self == PoStatus::Draft && is_closed_on_1688(status_1688) {
            PoStatus::Cancelled
        } else {
            self
        }
    }
}

impl fmt::Display for PoStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// 1688 statuses that mean the order will never be fulfilled.
pub const CLOSED_1688_STATUSES: [&str; 2] = ["cancel", "terminated"];

pub fn is_closed_on_1688(status_1688: &str) -> bool {
    CLOSED_1688_STATUSES.contains(&status_1688)
}

/// `purchase_order_lines.mapping_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MappingStatus {
    Mapped,
    Unmapped,
}

impl MappingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MappingStatus::Mapped => "mapped",
            MappingStatus::Unmapped => "unmapped",
        }
    }
}

/// `sync_runs.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }
}

/// `sync_runs.kind`: what a run covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunKind {
    /// The rolling window of the last `lookback_days` days, by creation time.
    Window,
    /// An operator's `--from/--to` range, by creation time.
    Backfill,
    /// Orders modified since the stored cursor.
    Changes,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Window => "window",
            RunKind::Backfill => "backfill",
            RunKind::Changes => "changes",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_draft_follows_a_1688_close() {
        assert_eq!(PoStatus::Draft.after_resync("cancel"), PoStatus::Cancelled);
        assert_eq!(
            PoStatus::Draft.after_resync("waitsellersend"),
            PoStatus::Draft
        );
        assert_eq!(
            PoStatus::OnTheWay.after_resync("terminated"),
            PoStatus::OnTheWay
        );
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for s in PoStatus::ALL {
            assert_eq!(PoStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(PoStatus::parse("shipped"), None);
    }
}
