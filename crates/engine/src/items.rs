//! The item catalog: what a tenant recommends and searches (tracks, products, articles),
//! upserted by id. Items are never personal: every field of the item schema (`_items`) must
//! be classed `public`, and without a schema only flat public values are taken (strings,
//! numbers, booleans, lists of strings). So items need no subject key, no consent and no
//! erasure, and are stored in the clear in the tenant catalog (redb: durable on commit; a
//! bulk upsert is one commit).
//!
//! Stored value: JSON `{"p": properties, "t": text?, "u": updated_at_us, "r": revision}`.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};
use steward_privacy::{PrivacyClass, Schema};

use crate::EngineError;
use crate::limits::{
    ITEM_ID_BYTES_MAX, ITEM_LIST_FIELD_ITEMS_MAX, ITEM_PROPERTIES_BYTES_MAX, ITEM_PROPERTIES_MAX,
    ITEM_STRING_BYTES_MAX, ITEM_TEXT_BYTES_MAX, ITEMS_BULK_MAX, ITEMS_PER_TENANT_MAX,
};
use crate::tenant::Tenant;

/// Catalog table of items, keyed by item id.
pub(crate) const ITEMS: &str = "items";
/// The schema name of items (a name no event type can take: event types start with a letter).
pub const ITEM_SCHEMA: &str = "_items";

/// One item as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub id: String,
    pub properties: Map<String, Value>,
    pub text: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// 1 for a new item, +1 per upsert that changed it.
    pub revision: u64,
}

impl Item {
    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "item_id": self.id,
            "properties": self.properties,
            "updated_at": self.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "revision": self.revision,
        });
        if let Some(text) = &self.text {
            out["text"] = Value::String(text.clone());
        }
        out
    }

    fn encode(&self) -> Vec<u8> {
        let mut doc = json!({"p": self.properties, "u": self.updated_at.timestamp_micros(), "r": self.revision});
        if let Some(text) = &self.text {
            doc["t"] = Value::String(text.clone());
        }
        serde_json::to_vec(&doc).unwrap_or_default()
    }

    fn decode(id: &[u8], bytes: &[u8], catalog: &std::path::Path) -> Result<Item, EngineError> {
        let corrupted = |reason: &str| {
            EngineError::Catalog(steward_store::CatalogError::Corrupted {
                path: catalog.to_owned(),
                table: ITEMS.to_owned(),
                reason: reason.to_owned(),
            })
        };
        let id = std::str::from_utf8(id)
            .map_err(|_| corrupted("item id is not UTF-8"))?
            .to_owned();
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|_| corrupted("item entry is not JSON"))?;
        let properties = doc
            .get("p")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| corrupted("item entry has no properties"))?;
        let text = doc.get("t").and_then(Value::as_str).map(str::to_owned);
        let updated_us = doc
            .get("u")
            .and_then(Value::as_i64)
            .ok_or_else(|| corrupted("item entry has no time"))?;
        let updated_at = Utc
            .timestamp_micros(updated_us)
            .single()
            .ok_or_else(|| corrupted("item entry time out of range"))?;
        let revision = doc
            .get("r")
            .and_then(Value::as_u64)
            .ok_or_else(|| corrupted("item entry has no revision"))?;
        Ok(Item {
            id,
            properties,
            text,
            updated_at,
            revision,
        })
    }
}

/// What a bulk upsert did; `rejected` holds (index in the input, error) in input order.
#[derive(Debug, Default)]
pub struct ItemsReport {
    pub upserted: usize,
    pub unchanged: usize,
    pub rejected: Vec<(usize, EngineError)>,
}

/// A page of items in id order.
#[derive(Debug)]
pub struct ItemsPage {
    pub items: Vec<Item>,
    /// The last id of this page when more may follow.
    pub next_cursor: Option<String>,
}

/// Checks an item id: 1 to 256 bytes of UTF-8 without control characters or `/` (it is a
/// URL path segment).
pub fn validate_item_id(id: &str) -> Result<(), EngineError> {
    if id.is_empty()
        || id.len() > ITEM_ID_BYTES_MAX
        || id.chars().any(|c| c.is_control() || c == '/')
    {
        return Err(EngineError::invalid(
            "invalid_item_id",
            Some("item_id"),
            format!("expected 1 to {ITEM_ID_BYTES_MAX} bytes without control characters or '/'"),
        ));
    }
    Ok(())
}

/// Checks an item schema: every field public and no undeclared fields (they would be stored
/// as personal). Field names are not repeated in the error (they came from the request).
pub(crate) fn check_item_schema(schema: &Schema) -> Result<(), EngineError> {
    if let Some(index) = schema
        .fields()
        .position(|(_, spec)| spec.class != PrivacyClass::Public)
    {
        return Err(EngineError::invalid(
            "item_field_not_public",
            Some("fields"),
            format!(
                "every item field must be classed public (items are never personal data); field number {} is not",
                index + 1
            ),
        ));
    }
    if schema.allow_unknown_fields() {
        return Err(EngineError::invalid(
            "item_unknown_fields",
            Some("allow_unknown_fields"),
            "an item schema lists every field: undeclared fields would be personal data",
        ));
    }
    if schema.retention_seconds().is_some() {
        return Err(EngineError::invalid(
            "item_retention",
            Some("retention"),
            "items have no retention: delete an item to remove it",
        ));
    }
    Ok(())
}

/// The properties and text of an item document `{"properties": {...}, "text": "..."}`,
/// validated against the item schema when the tenant has one.
fn parse_document(
    doc: &Value,
    schema: Option<&Schema>,
) -> Result<(Map<String, Value>, Option<String>), EngineError> {
    let Value::Object(fields) = doc else {
        return Err(EngineError::invalid(
            "invalid_item",
            None,
            "expected a JSON object with properties and text",
        ));
    };
    if let Some(position) = fields
        .keys()
        .position(|k| !matches!(k.as_str(), "properties" | "text" | "item_id"))
    {
        return Err(EngineError::invalid(
            "unknown_field",
            None,
            format!(
                "field number {} of the item is not one of item_id, properties, text",
                position + 1
            ),
        ));
    }
    let text = match fields.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.len() <= ITEM_TEXT_BYTES_MAX => Some(text.clone()),
        Some(Value::String(_)) => {
            return Err(EngineError::invalid(
                "invalid_item_text",
                Some("text"),
                format!("text may hold at most {ITEM_TEXT_BYTES_MAX} bytes"),
            ));
        }
        Some(_) => {
            return Err(EngineError::invalid(
                "invalid_item_text",
                Some("text"),
                "text must be a string",
            ));
        }
    };
    let properties = match fields.get("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            return Err(EngineError::invalid(
                "invalid_item_properties",
                Some("properties"),
                "properties must be a JSON object",
            ));
        }
    };
    let properties = match schema {
        Some(schema) => {
            let validated = schema.validate(&properties).map_err(EngineError::Fields)?;
            validated.public
        }
        None => check_free_properties(properties)?,
    };
    let bytes = serde_json::to_vec(&properties)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if bytes > ITEM_PROPERTIES_BYTES_MAX {
        return Err(EngineError::invalid(
            "invalid_item_properties",
            Some("properties"),
            format!("properties may hold at most {ITEM_PROPERTIES_BYTES_MAX} bytes as JSON"),
        ));
    }
    Ok((properties, text))
}

/// Without an item schema: flat public values only, so serve-time filters always meet a
/// string, a number, a boolean or a list of strings. Nulls are dropped (absent).
fn check_free_properties(
    properties: Map<String, Value>,
) -> Result<Map<String, Value>, EngineError> {
    if properties.len() > ITEM_PROPERTIES_MAX {
        return Err(EngineError::invalid(
            "invalid_item_properties",
            Some("properties"),
            format!("at most {ITEM_PROPERTIES_MAX} properties"),
        ));
    }
    let mut out = Map::new();
    for (position, (name, value)) in properties.into_iter().enumerate() {
        let bad = |why: &str| {
            EngineError::invalid(
                "invalid_item_properties",
                Some("properties"),
                format!("property number {}: {why}", position + 1),
            )
        };
        steward_privacy::validate_field_name(&name)
            .map_err(|_| bad("the name must match ^[a-z][a-z0-9_]{0,63}$"))?;
        match &value {
            Value::Null => continue,
            Value::Bool(_) => {}
            Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => {}
            Value::Number(_) => return Err(bad("numbers must be finite")),
            Value::String(s) if s.len() <= ITEM_STRING_BYTES_MAX => {}
            Value::String(_) => {
                return Err(bad(&format!(
                    "strings may hold at most {ITEM_STRING_BYTES_MAX} bytes"
                )));
            }
            Value::Array(values) => {
                if values.len() > ITEM_LIST_FIELD_ITEMS_MAX {
                    return Err(bad(&format!(
                        "lists may hold at most {ITEM_LIST_FIELD_ITEMS_MAX} strings"
                    )));
                }
                if !values
                    .iter()
                    .all(|v| v.as_str().is_some_and(|s| s.len() <= ITEM_STRING_BYTES_MAX))
                {
                    return Err(bad(
                        "lists must hold strings only (declare other types in the _items schema)",
                    ));
                }
            }
            Value::Object(_) => return Err(bad("nested objects are not item properties")),
        }
        out.insert(name, value);
    }
    Ok(out)
}

impl Tenant {
    fn item_schema(&self) -> Option<std::sync::Arc<steward_privacy::SchemaVersion>> {
        self.schema_versions(ITEM_SCHEMA).last().cloned()
    }

    /// Inserts or replaces items in one durable commit. An entry whose content is unchanged
    /// keeps its revision and time. Entries are validated one by one; the bad ones are
    /// reported and the rest stored.
    pub(crate) fn upsert_items(
        &self,
        entries: Vec<(String, Value)>,
    ) -> Result<ItemsReport, EngineError> {
        if entries.len() > ITEMS_BULK_MAX {
            return Err(EngineError::Limit(format!(
                "at most {ITEMS_BULK_MAX} items per request"
            )));
        }
        let schema = self.item_schema();
        let mut report = ItemsReport::default();
        let mut parsed = Vec::with_capacity(entries.len());
        for (index, (id, doc)) in entries.into_iter().enumerate() {
            let checked = validate_item_id(&id)
                .and_then(|()| parse_document(&doc, schema.as_ref().map(|s| &s.schema)));
            match checked {
                Ok((properties, text)) => parsed.push((index, id, properties, text)),
                Err(error) => report.rejected.push((index, error)),
            }
        }
        if parsed.is_empty() {
            return Ok(report);
        }
        let now = Utc::now();
        let catalog = self.partition().catalog();
        let path = catalog.path().to_owned();
        let existing_count = catalog.count(ITEMS)?;
        let (upserted, unchanged) = catalog
            .write(|txn| {
                let mut new_items = 0u64;
                let (mut upserted, mut unchanged) = (0usize, 0usize);
                // Later entries for the same id win, as if sent one by one.
                for (_, id, properties, text) in &parsed {
                    let old = match txn.get(ITEMS, id.as_bytes())? {
                        Some(bytes) => {
                            Some(Item::decode(id.as_bytes(), &bytes, &path).map_err(|_| {
                                steward_store::CatalogError::Corrupted {
                                    path: path.clone(),
                                    table: ITEMS.to_owned(),
                                    reason: "item entry does not decode".into(),
                                }
                            })?)
                        }
                        None => None,
                    };
                    if let Some(old) = &old
                        && old.properties == *properties
                        && old.text == *text
                    {
                        unchanged += 1;
                        continue;
                    }
                    if old.is_none() {
                        new_items += 1;
                        if existing_count + new_items > ITEMS_PER_TENANT_MAX {
                            return Err(steward_store::CatalogError::Corrupted {
                                path: path.clone(),
                                table: ITEMS.to_owned(),
                                reason: LIMIT_MARK.to_owned(),
                            });
                        }
                    }
                    let item = Item {
                        id: id.clone(),
                        properties: properties.clone(),
                        text: text.clone(),
                        updated_at: now,
                        revision: old.map_or(1, |o| o.revision + 1),
                    };
                    txn.put(ITEMS, id.as_bytes(), &item.encode())?;
                    upserted += 1;
                }
                Ok((upserted, unchanged))
            })
            .map_err(|e| match e {
                steward_store::CatalogError::Corrupted { reason, .. } if reason == LIMIT_MARK => {
                    EngineError::Limit(format!(
                        "a tenant may hold at most {ITEMS_PER_TENANT_MAX} items"
                    ))
                }
                other => EngineError::Catalog(other),
            })?;
        report.upserted = upserted;
        report.unchanged = unchanged;
        metrics::counter!("steward_items_upserted_total").increment(upserted as u64);
        metrics::counter!("steward_items_rejected_total").increment(report.rejected.len() as u64);
        Ok(report)
    }

    pub(crate) fn item(&self, id: &str) -> Result<Item, EngineError> {
        validate_item_id(id)?;
        let catalog = self.partition().catalog();
        let bytes = catalog
            .get(ITEMS, id.as_bytes())?
            .ok_or(EngineError::NotFound { what: "item" })?;
        Item::decode(id.as_bytes(), &bytes, catalog.path())
    }

    /// Removes an item; false when there was none.
    pub(crate) fn delete_item(&self, id: &str) -> Result<bool, EngineError> {
        validate_item_id(id)?;
        let catalog = self.partition().catalog();
        let existed = catalog.write(|txn| {
            let existed = txn.get(ITEMS, id.as_bytes())?.is_some();
            if existed {
                txn.delete(ITEMS, id.as_bytes())?;
            }
            Ok(existed)
        })?;
        if existed {
            metrics::counter!("steward_items_deleted_total").increment(1);
        }
        Ok(existed)
    }

    /// Items in id order after `cursor` (an item id), at most `limit`.
    pub(crate) fn items_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ItemsPage, EngineError> {
        if let Some(cursor) = cursor {
            validate_item_id(cursor).map_err(|_| {
                EngineError::invalid(
                    "invalid_cursor",
                    Some("cursor"),
                    "not a cursor of this listing",
                )
            })?;
        }
        let catalog = self.partition().catalog();
        let entries = catalog.scan_after(ITEMS, cursor.map(str::as_bytes), limit + 1)?;
        let more = entries.len() > limit;
        let items = entries
            .iter()
            .take(limit)
            .map(|(k, v)| Item::decode(k, v, catalog.path()))
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if more {
            items.last().map(|i| i.id.clone())
        } else {
            None
        };
        Ok(ItemsPage { items, next_cursor })
    }

    pub(crate) fn item_count(&self) -> Result<u64, EngineError> {
        Ok(self.partition().catalog().count(ITEMS)?)
    }
}

/// Carries the per-tenant limit out of a catalog transaction (which only returns catalog errors).
const LIMIT_MARK: &str = "steward:items-limit";
