//! Metric totals kept outside the process: the `MetricStore` port and its series now live with the
//! other ports in `aos_core::ports` (so the AWS adapters depend on the domain only); re-exported
//! here for the code that still names them by this path.

pub use aos_core::ports::{series_pk, series_sk, MetricStore, Series, SeriesValue};
