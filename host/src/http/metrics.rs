//! Prometheus metrics, kept in a registry owned by `AppState` (no global recorder), served as
//! text at `/metrics`. Route labels are matched route templates, so cardinality stays bounded.
//! Per-tenant usage (users by status, this month's sign-ins and SCIM writes, labelled by
//! tenant id) is read from the database at most every [`USAGE_REFRESH`], whatever the scrape
//! rate.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    database: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WithinLabels {
    within: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantStatusLabels {
    tenant: String,
    status: String,
}

/// How stale the per-tenant usage may be: two grouped reads at most this often.
pub const USAGE_REFRESH: Duration = Duration::from_secs(30);

/// The instance's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    tenant_users: Family<TenantStatusLabels, Gauge>,
    tenant_sign_ins: Family<TenantLabels, Gauge>,
    tenant_scim: Family<TenantLabels, Gauge>,
    /// The resident compiled components: budget, bytes, count.
    plugin_budget: Gauge,
    plugin_bytes: Gauge,
    plugin_components: Gauge,
    plugin_hits: Counter,
    plugin_misses: Counter,
    plugin_evictions: Counter,
    /// SSO connections whose certificates reach an expiry threshold.
    certificates_expiring: Family<WithinLabels, Gauge>,
    /// When the usage was last read.
    usage_read_at: Mutex<Option<Instant>>,
}

impl Metrics {
    pub fn new(database: &str) -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            // 100 µs to ~26 s.
            Histogram::new(exponential_buckets(0.0001, 2.0, 19))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            latency.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
                database: database.into(),
            })
            .set(1);
        registry.register("build_info", "Version and database backend", build);
        let tenant_users = Family::<TenantStatusLabels, Gauge>::default();
        registry.register(
            "tenant_users",
            "A tenant's users by status",
            tenant_users.clone(),
        );
        let tenant_sign_ins = Family::<TenantLabels, Gauge>::default();
        registry.register(
            "tenant_sign_ins_this_month",
            "A tenant's sign-ins in this calendar month (UTC)",
            tenant_sign_ins.clone(),
        );
        let tenant_scim = Family::<TenantLabels, Gauge>::default();
        registry.register(
            "tenant_scim_operations_this_month",
            "A tenant's SCIM writes in this calendar month (UTC)",
            tenant_scim.clone(),
        );
        let plugin_budget = Gauge::default();
        registry.register(
            "plugin_resident_budget_bytes",
            "Memory the node's compiled components may hold (plugins.loaded_budget_mib)",
            plugin_budget.clone(),
        );
        let plugin_bytes = Gauge::default();
        registry.register(
            "plugin_resident_bytes",
            "Estimated memory of the compiled components held now",
            plugin_bytes.clone(),
        );
        let plugin_components = Gauge::default();
        registry.register(
            "plugin_resident_components",
            "Compiled components held now",
            plugin_components.clone(),
        );
        let plugin_hits = Counter::default();
        registry.register(
            "plugin_resident_hits",
            "Plugin uses served by a resident component",
            plugin_hits.clone(),
        );
        let plugin_misses = Counter::default();
        registry.register(
            "plugin_resident_misses",
            "Plugin uses that had to load the component (from the compiled cache)",
            plugin_misses.clone(),
        );
        let plugin_evictions = Counter::default();
        registry.register(
            "plugin_resident_evictions",
            "Components dropped to stay within the budget",
            plugin_evictions.clone(),
        );
        let certificates_expiring = Family::<WithinLabels, Gauge>::default();
        registry.register(
            "sso_connections_certificate_expiring",
            "SSO connections whose last IdP or SP certificate expires within 30, 7 or 1 day, \
             or has expired (at the last hourly check)",
            certificates_expiring.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            tenant_users,
            tenant_sign_ins,
            tenant_scim,
            plugin_budget,
            plugin_bytes,
            plugin_components,
            plugin_hits,
            plugin_misses,
            plugin_evictions,
            certificates_expiring,
            usage_read_at: Mutex::new(None),
        }
    }

    /// True when the usage gauges are due a refresh; marks them refreshed (a concurrent
    /// scrape then serves the values it has).
    pub fn usage_due(&self) -> bool {
        let mut at = self.usage_read_at.lock().unwrap_or_else(|p| p.into_inner());
        if at.is_some_and(|t| t.elapsed() < USAGE_REFRESH) {
            return false;
        }
        *at = Some(Instant::now());
        true
    }

    /// Replaces the usage gauges with `usage`.
    pub fn set_usage(&self, usage: &crate::tenancy::usage::Snapshot) {
        self.tenant_users.clear();
        self.tenant_sign_ins.clear();
        self.tenant_scim.clear();
        for (tenant, status, n) in &usage.users {
            self.tenant_users
                .get_or_create(&TenantStatusLabels {
                    tenant: tenant.clone(),
                    status: status.clone(),
                })
                .set(*n);
        }
        for (family, values) in [
            (&self.tenant_sign_ins, &usage.sign_ins),
            (&self.tenant_scim, &usage.scim_operations),
        ] {
            for (tenant, n) in values {
                family
                    .get_or_create(&TenantLabels {
                        tenant: tenant.clone(),
                    })
                    .set(*n);
            }
        }
    }

    /// Sets the resident-component figures from the registry's.
    pub fn set_plugins(&self, s: &crate::plugins::resident::ResidentStats) {
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.plugin_budget.set(gauge(s.budget_bytes));
        self.plugin_bytes.set(gauge(s.bytes));
        self.plugin_components.set(gauge(s.components));
        for (counter, now) in [
            (&self.plugin_hits, s.hits),
            (&self.plugin_misses, s.misses),
            (&self.plugin_evictions, s.evictions),
        ] {
            let before = counter.get();
            if now > before {
                counter.inc_by(now - before);
            }
        }
    }

    /// Sets the certificate-expiry gauges from the last check.
    pub fn set_certificate_expiry(&self, c: &crate::sso::health::ExpiryCounts) {
        for (within, n) in [
            ("30d", c.within_30_days),
            ("7d", c.within_7_days),
            ("1d", c.within_1_day),
            ("expired", c.expired),
        ] {
            self.certificates_expiring
                .get_or_create(&WithinLabels {
                    within: within.into(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.into(),
                route: route.into(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                method: method.into(),
                route: route.into(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
