//! The NoSQL half of input preparation: the tables `allocate_nosql()` declares and the items
//! `generate_input` puts through `nosql_func`, in SeBS's shapes:
//!
//! - `allocate_nosql()` returns `{table: {"primary_key": attr, "secondary_key": attr}}`
//!   (`secondary_key` optional);
//! - `nosql_func(benchmark, table, data, (pk, value), (sk, value))` stores `data` with its key
//!   attributes set (the secondary key is left out for tables without one).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use sebs_common::Benchmark;
use serde_json::Value;

use sebs_platform::nosql::table_variable;
use sebs_platform::{Item, NoSqlStorage, TableSpec};

/// Creates the tables and stores the items; returns the environment the function needs to find
/// its tables (`NOSQL_STORAGE_TABLE_<table>` = real name).
pub(super) async fn allocate(
    benchmark: &Benchmark,
    tables: Option<&Value>,
    items: &[Value],
    store: Option<&dyn NoSqlStorage>,
) -> Result<BTreeMap<String, String>> {
    let specs = match tables {
        None | Some(Value::Null) if items.is_empty() => return Ok(BTreeMap::new()),
        None | Some(Value::Null) => bail!(
            "{}: input.py calls nosql_func but has no allocate_nosql() declaring its tables",
            benchmark.input_py().display()
        ),
        Some(tables) => table_specs(benchmark, tables)?,
    };
    let Some(store) = store else {
        bail!(
            "benchmark {} needs NoSQL tables, and this platform has no NoSQL storage yet",
            benchmark.name
        );
    };
    let mut environment = BTreeMap::new();
    let mut real = BTreeMap::new();
    for spec in &specs {
        let name = store
            .create_table(&benchmark.name, spec)
            .await
            .with_context(|| format!("creating NoSQL table `{}`", spec.name))?;
        environment.insert(table_variable(&spec.name), name.clone());
        real.insert(spec.name.clone(), (name, spec));
    }
    for (i, call) in items.iter().enumerate() {
        let (table, item) = item_of(call).with_context(|| {
            format!(
                "{}: nosql_func call #{} ({call})",
                benchmark.input_py().display(),
                i + 1
            )
        })?;
        let Some((name, _)) = real.get(&table) else {
            bail!(
                "{}: nosql_func puts an item into table `{table}`, which allocate_nosql() does not declare",
                benchmark.input_py().display()
            );
        };
        store
            .insert(name, item)
            .await
            .with_context(|| format!("storing nosql_func item #{} in `{table}`", i + 1))?;
    }
    tracing::debug!(
        tables = specs.len(),
        items = items.len(),
        "nosql tables ready"
    );
    Ok(environment)
}

fn table_specs(benchmark: &Benchmark, tables: &Value) -> Result<Vec<TableSpec>> {
    let where_ = || format!("{}: allocate_nosql()", benchmark.input_py().display());
    let Some(tables) = tables.as_object() else {
        bail!("{} must return a dict of tables, got {tables}", where_());
    };
    tables
        .iter()
        .map(|(name, keys)| {
            let key = |field: &str| keys.get(field).and_then(Value::as_str).map(str::to_string);
            let primary_key = key("primary_key").with_context(|| {
                format!(
                    "{}: table `{name}` has no string `primary_key` ({keys})",
                    where_()
                )
            })?;
            Ok(TableSpec {
                name: name.clone(),
                primary_key,
                secondary_key: key("secondary_key"),
            })
        })
        .collect()
}

/// `[benchmark, table, data, [pk, value], [sk, value]?]` -> (table, item).
fn item_of(call: &Value) -> Result<(String, Item)> {
    let args = call.as_array().context("expected a list of arguments")?;
    let (table, data, keys) = match args.as_slice() {
        [_benchmark, table, data, keys @ ..] if (1..=2).contains(&keys.len()) => {
            (table, data, keys)
        }
        _ => bail!("expected (benchmark, table, data, primary key, secondary key)"),
    };
    let table = table.as_str().context("the table name must be a string")?;
    let mut item = data
        .as_object()
        .cloned()
        .context("the data must be a dict")?;
    for key in keys {
        match key.as_array().map(Vec::as_slice) {
            Some([Value::String(attribute), value]) => {
                item.insert(attribute.clone(), value.clone());
            }
            _ => bail!("a key must be an (attribute, value) pair, got {key}"),
        }
    }
    Ok((table.to_string(), item))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_get_their_keys() {
        let (table, item) = item_of(&json!([
            "130.crud-api", "shopping_cart", {"name": "x", "price": 1},
            ["cart_id", "c1"], ["product_id", "p1"]
        ]))
        .unwrap();
        assert_eq!(table, "shopping_cart");
        assert_eq!(
            Value::Object(item),
            json!({"name": "x", "price": 1, "cart_id": "c1", "product_id": "p1"})
        );
        assert!(item_of(&json!(["b", "t", {"a": 1}, ["k"]])).is_err());
        assert!(item_of(&json!(["b", "t", [1], ["k", 1]])).is_err());
    }
}
