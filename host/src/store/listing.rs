//! Listing conditions: which rows a SCIM listing reads, rendered to SQL for either backend.
//! `scim::prefilter` makes a [`Cond`] from a SCIM filter; the condition selects a superset of
//! what the filter matches, which the caller then applies exactly to what was read.

use super::Backend;

/// A column a listing condition can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Id,
    /// A user's userName, lower-cased.
    UserNameKey,
    ExternalId,
    /// A group's displayName, ASCII-lower-cased.
    GroupNameLower,
    CreatedAt,
    UpdatedAt,
}

/// A text comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Eq,
    Ne,
    Contains,
    StartsWith,
    EndsWith,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A time comparison (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOp {
    Ge,
    Le,
}

/// Which rows a listing reads (see `scim::prefilter`, which makes these from filters): a
/// superset of what the filter matches, which is then applied exactly to what is read.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Text {
        col: Col,
        op: TextOp,
        value: String,
    },
    Time {
        col: Col,
        op: TimeOp,
        micros: i64,
    },
    NotNull(Col),
    /// The user is deactivated (`true`) or not.
    Deactivated(bool),
    /// The client's stored JSON, ASCII-lower-cased, contains this text.
    JsonHas(String),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    /// Rows after this one in listing order (`created_at, id`): where a cursor resumes.
    After {
        micros: i64,
        id: String,
    },
}

/// A bound value of a rendered condition.
pub(super) enum Param {
    Text(String),
    Int(i64),
}

fn column(col: Col) -> &'static str {
    match col {
        Col::Id => "id",
        Col::UserNameKey => "scim_user_name_key",
        Col::ExternalId => "scim_external_id",
        Col::GroupNameLower => "LOWER(display_name)",
        Col::CreatedAt => "created_at",
        Col::UpdatedAt => "updated_at",
    }
}

/// `value` as a LIKE pattern matching itself literally (`\` escapes).
pub(super) fn like_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// SQL for `cond`, binding its values into `params` (placeholders after `first_param`).
fn render(cond: &Cond, backend: Backend, params: &mut Vec<Param>, first_param: usize) -> String {
    let mut bind = |p: Param| {
        params.push(p);
        format!("${}", first_param + params.len() - 1)
    };
    match cond {
        Cond::Text { col, op, value } => {
            let c = column(*col);
            // Range comparisons in code-point order, as the in-memory filter compares.
            let ordered = match backend {
                Backend::Postgres => format!("{c} COLLATE \"C\""),
                Backend::Sqlite => c.to_string(),
            };
            let like = |pattern: String| format!("{c} LIKE {pattern} ESCAPE '\\'");
            match op {
                TextOp::Eq => format!("{c} = {}", bind(Param::Text(value.clone()))),
                TextOp::Ne => format!(
                    "({c} IS NULL OR {c} <> {})",
                    bind(Param::Text(value.clone()))
                ),
                TextOp::Contains => like(bind(Param::Text(format!("%{}%", like_literal(value))))),
                TextOp::StartsWith => like(bind(Param::Text(format!("{}%", like_literal(value))))),
                TextOp::EndsWith => like(bind(Param::Text(format!("%{}", like_literal(value))))),
                TextOp::Gt => format!("{ordered} > {}", bind(Param::Text(value.clone()))),
                TextOp::Ge => format!("{ordered} >= {}", bind(Param::Text(value.clone()))),
                TextOp::Lt => format!("{ordered} < {}", bind(Param::Text(value.clone()))),
                TextOp::Le => format!("{ordered} <= {}", bind(Param::Text(value.clone()))),
            }
        }
        Cond::Time { col, op, micros } => {
            let sign = match op {
                TimeOp::Ge => ">=",
                TimeOp::Le => "<=",
            };
            format!("{} {sign} {}", column(*col), bind(Param::Int(*micros)))
        }
        Cond::NotNull(col) => format!("{} IS NOT NULL", column(*col)),
        Cond::Deactivated(true) => "status = 'deactivated'".into(),
        Cond::Deactivated(false) => "status <> 'deactivated'".into(),
        Cond::JsonHas(text) => format!(
            "LOWER(scim_json) LIKE {} ESCAPE '\\'",
            bind(Param::Text(format!("%{}%", like_literal(text))))
        ),
        Cond::And(a, b) => {
            let a = render(a, backend, params, first_param);
            let b = render(b, backend, params, first_param);
            format!("({a} AND {b})")
        }
        Cond::Or(a, b) => {
            let a = render(a, backend, params, first_param);
            let b = render(b, backend, params, first_param);
            format!("({a} OR {b})")
        }
        Cond::After { micros, id } => {
            let (at, again) = (bind(Param::Int(*micros)), bind(Param::Int(*micros)));
            let id = bind(Param::Text(id.clone()));
            format!("(created_at > {at} OR (created_at = {again} AND id > {id}))")
        }
    }
}

/// ` AND (…)` for `cond`, with its parameters bound after the tenant (`$1`).
pub(super) fn where_clause(cond: Option<&Cond>, backend: Backend) -> (String, Vec<Param>) {
    let mut params = Vec::new();
    match cond {
        Some(c) => (
            format!(" AND {}", render(c, backend, &mut params, 2)),
            params,
        ),
        None => (String::new(), params),
    }
}

pub(super) fn bind_params<'q, DB: sqlx::Database>(
    mut query: sqlx::query::Query<'q, DB, DB::Arguments<'q>>,
    params: Vec<Param>,
) -> sqlx::query::Query<'q, DB, DB::Arguments<'q>>
where
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for p in params {
        query = match p {
            Param::Text(t) => query.bind(t),
            Param::Int(i) => query.bind(i),
        };
    }
    query
}
