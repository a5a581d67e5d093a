//! The directory: an internal dictionary in the root that maps each
//! object's name to a descriptor (its kind, where it lives in the heap, its
//! element type), and the registry of element types recorded beside typed
//! data.
//!
//! Looking an object up is a lock-free dictionary read; creating one takes
//! the writer lock, allocates and initialises the object, and publishes it
//! by inserting its descriptor (one atomic store), so a creator killed midway
//! leaves no half-made object.
use std::sync::Arc;

use crate::error::{Error, Result, corrupted};
use crate::objects::types::{DESC_TAG, TYPE_TAG, TypeTag};
use crate::storage::epoch::pin;
use crate::storage::hash::hash;
use crate::storage::inner::Inner;
use crate::storage::layout::{
    BLOCK_HDR, DIRECTORY_REF, MAX_NAME_LEN, ObjectDesc, REGISTRY_REF, obj,
};
use crate::storage::writer::Writer;
use crate::storage::{table, txn};

/// Checks an object name.
fn check_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("longer than MAX_NAME_LEN bytes")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Looks `name` up in the directory (pinned, lock-free).
pub(crate) fn find_object(inner: &Arc<Inner>, name: &str) -> Result<Option<ObjectDesc>> {
    let _pin = pin(inner)?;
    let h = hash(inner.seed, name.as_bytes());
    let Some(e) = table::lookup(&inner.arena, DIRECTORY_REF, name.as_bytes(), h)? else {
        return Ok(None);
    };
    decode_desc(inner, e).map(Some)
}

fn decode_desc(inner: &Inner, e: u64) -> Result<ObjectDesc> {
    let meta = table::entry_meta(&inner.arena, e)?;
    if meta.tag != DESC_TAG {
        return Err(corrupted("directory entry without a descriptor"));
    }
    ObjectDesc::decode(&table::read_value(&inner.arena, e, &meta)?)
        .ok_or_else(|| corrupted("bad object descriptor"))
}

/// Finds the object `name`, or creates it with `create` (which allocates
/// and initialises it, returning its block and object refs). Checks that an
/// existing object has the asked-for kind, type tag and parameter.
pub(crate) fn find_or_create(
    inner: &Arc<Inner>,
    name: &str,
    kind: u64,
    ty: Option<&TypeTag>,
    param: Option<u64>,
    create: impl FnOnce(&mut Writer<'_>) -> Result<(u64, u64)>,
) -> Result<ObjectDesc> {
    check_name(name)?;
    let tag = ty.map_or(0, |t| t.tag);
    let check = |desc: ObjectDesc| -> Result<ObjectDesc> {
        if desc.kind != kind {
            return Err(Error::WrongKind {
                name: name.to_owned(),
                expected: obj::name(kind).to_owned(),
                found: obj::name(desc.kind).to_owned(),
            });
        }
        if desc.tag != tag {
            return Err(Error::WrongType {
                expected: ty.map_or_else(|| describe_tag(inner, tag), TypeTag::describe),
                found: describe_tag(inner, desc.tag),
            });
        }
        if let Some(param) = param
            && desc.param != param
        {
            return Err(Error::WrongKind {
                name: name.to_owned(),
                expected: format!("{} with parameter {param}", obj::name(kind)),
                found: format!("{} with parameter {}", obj::name(kind), desc.param),
            });
        }
        Ok(desc)
    };
    if let Some(desc) = find_object(inner, name)? {
        return check(desc);
    }
    let desc = txn::write(inner, |w| {
        let h = hash(w.inner.seed, name.as_bytes());
        if let Some(e) = table::find(w, DIRECTORY_REF, name.as_bytes(), h)? {
            return decode_desc(w.inner, e);
        }
        let (block, object) = create(w)?;
        let desc = ObjectDesc {
            kind,
            block,
            object,
            tag,
            param: param.unwrap_or(0),
        };
        if let Err(e) = table::insert(
            w,
            DIRECTORY_REF,
            name.as_bytes(),
            h,
            &desc.encode(),
            DESC_TAG,
        ) {
            w.heap().free_now(block)?;
            return Err(e);
        }
        Ok(desc)
    })?;
    check(desc)
}

/// Records `t` in the type registry (writer side), if it is not there yet.
pub(crate) fn register_type(w: &mut Writer<'_>, t: &TypeTag) -> Result<()> {
    let key = t.tag.to_le_bytes();
    let h = hash(w.inner.seed, &key);
    if table::find(w, REGISTRY_REF, &key, h)?.is_none() {
        table::insert(w, REGISTRY_REF, &key, h, &t.record(), TYPE_TAG)?;
    }
    Ok(())
}

/// Whether `t` is in the type registry already (a lock-free read).
pub(crate) fn type_registered(inner: &Arc<Inner>, t: &TypeTag) -> Result<bool> {
    let _pin = pin(inner)?;
    let key = t.tag.to_le_bytes();
    let h = hash(inner.seed, &key);
    Ok(table::lookup(&inner.arena, REGISTRY_REF, &key, h)?.is_some())
}

/// A description of the type behind `tag`, from the registry.
pub(crate) fn describe_tag(inner: &Arc<Inner>, tag: u64) -> String {
    if tag == crate::objects::types::BYTES_TAG {
        return "bytes".to_owned();
    }
    let lookup = || -> Result<Option<String>> {
        let _pin = pin(inner)?;
        let key = tag.to_le_bytes();
        let h = hash(inner.seed, &key);
        let Some(e) = table::lookup(&inner.arena, REGISTRY_REF, &key, h)? else {
            return Ok(None);
        };
        let meta = table::entry_meta(&inner.arena, e)?;
        Ok(TypeTag::describe_record(&table::read_value(
            &inner.arena,
            e,
            &meta,
        )?))
    };
    lookup()
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("unknown type (tag {tag:#018x})"))
}

/// Creates an object of kind `kind` holding a `T` (a synchronisation
/// primitive) — allocation helper shared by the object constructors.
pub(crate) fn alloc_aligned(w: &mut Writer<'_>, size: u64, align: u64) -> Result<(u64, u64)> {
    let b = w.alloc_zeroed(size + align)?;
    let data = b + BLOCK_HDR;
    let object = data.next_multiple_of(align);
    Ok((b, object))
}

/// The names and kinds (`"dict"`, `"list"`, `"value"`, `"lock"`,
/// `"event"`, `"semaphore"`, `"barrier"`) of all objects, sorted by name.
pub(crate) fn list_objects(inner: &Arc<Inner>) -> Result<Vec<(String, &'static str)>> {
    let _pin = pin(inner)?;
    let entries = txn::consistent_snapshot(inner, DIRECTORY_REF)?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let meta = table::entry_meta(&inner.arena, e)?;
        let name = table::read_key(&inner.arena, e, &meta)?;
        let desc = ObjectDesc::decode(&table::read_value(&inner.arena, e, &meta)?)
            .ok_or_else(|| corrupted("bad object descriptor"))?;
        out.push((
            String::from_utf8_lossy(&name).into_owned(),
            obj::name(desc.kind),
        ));
    }
    out.sort();
    Ok(out)
}
