//! Expansion of the test attributes `#[shard::serial]`, `#[shard::group]`, `#[shard::flaky]`,
//! `#[shard::non_critical]` and `#[shard::threads]`.
//!
//! The outermost shard attribute on a function does all the work: it also takes the other
//! `shard::...` attributes written below it off the function (so a stack of them expands once,
//! into one registration and one wrapper) and rejects duplicates. The function's body moves
//! into a nested function `__shard_body` with the same signature, and the test becomes
//!
//! ```text
//! #[linkme::distributed_slice(::shard::__private::TESTS)]
//! static __SHARD_TEST: TestRecord = TestRecord { module_path: module_path!(), name, .. };
//! fn __shard_body() -> R { <original body> }
//! ::shard::__private::run(&__SHARD_TEST, __shard_body)              // sync
//! ::shard::__private::run_async(&__SHARD_TEST, __shard_body).await  // async fn
//! ```
//!
//! An `async fn` stays async, so `#[tokio::test]` written below the shard attribute still sees
//! an `async fn`; written above it, tokio has already turned the test into a sync function
//! that builds a runtime, and the wrapper re-runs all of it on a retry.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Ident, Item, ItemFn, Lit, LitInt, LitStr, Meta, Token};

/// Largest accepted `retries`.
const MAX_RETRIES: u64 = 100;
/// Largest accepted `backoff` (the runner caps each wait at 60 s too).
const MAX_BACKOFF_MS: u64 = 60_000;

/// Largest accepted `threads` count.
const MAX_THREADS: u64 = 1024;
/// `Spec::threads` for `"num-cpus"`: every worker.
const ALL_THREADS: u32 = u32::MAX;

/// The attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Serial,
    Group,
    Flaky,
    NonCritical,
    Threads,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Serial => "serial",
            Kind::Group => "group",
            Kind::Flaky => "flaky",
            Kind::NonCritical => "non_critical",
            Kind::Threads => "threads",
        }
    }

    fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "serial" => Kind::Serial,
            "group" => Kind::Group,
            "flaky" => Kind::Flaky,
            "non_critical" => Kind::NonCritical,
            "threads" => Kind::Threads,
            _ => return None,
        })
    }
}

/// Everything the attributes of one test say.
#[derive(Debug, Default, PartialEq, Eq)]
struct Spec {
    /// Serial key (`""` for the global set).
    serial: Option<String>,
    /// Group name and limit.
    group: Option<(String, u32)>,
    /// Retries and backoff in ms.
    flaky: Option<(u32, u64)>,
    /// Failure reported, not fatal.
    non_critical: bool,
    /// Worker slots taken ([`ALL_THREADS`] for `"num-cpus"`).
    threads: Option<u32>,
}

pub fn serial(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Serial, args, item)
}

pub fn group(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Group, args, item)
}

pub fn flaky(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Flaky, args, item)
}

pub fn non_critical(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::NonCritical, args, item)
}

pub fn threads(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Threads, args, item)
}

fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(kind, args, item.clone()) {
        Ok(tokens) => tokens,
        Err(err) => {
            // Keep the item so that the only errors the user sees are ours.
            let compile_error = err.to_compile_error();
            quote! { #compile_error #item }
        }
    }
}

fn try_expand(kind: Kind, args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut func = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => f,
        Ok(other) => {
            return Err(syn::Error::new(
                item_keyword_span(&other),
                format!(
                    "`#[shard::{}]` can only be applied to a test function",
                    kind.name()
                ),
            ));
        }
        Err(_) => {
            return Err(syn::Error::new(
                item.span(),
                format!(
                    "`#[shard::{}]` can only be applied to a test function",
                    kind.name()
                ),
            ));
        }
    };

    let mut spec = Spec::default();
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };

    // This attribute first, then the shard attributes written below it.
    let mut seen: Vec<Kind> = vec![kind];
    if let Err(e) = apply(kind, args, &mut spec) {
        push(e);
    }
    let mut kept = Vec::with_capacity(func.attrs.len());
    for attr in std::mem::take(&mut func.attrs) {
        let Some(inner) = shard_attribute(&attr) else {
            kept.push(attr);
            continue;
        };
        if seen.contains(&inner) {
            push(syn::Error::new(
                attr.path().span(),
                format!(
                    "duplicate `#[shard::{}]`: write it once per test",
                    inner.name()
                ),
            ));
            continue;
        }
        seen.push(inner);
        let args = match &attr.meta {
            Meta::Path(_) => TokenStream::new(),
            Meta::List(list) => list.tokens.clone(),
            Meta::NameValue(nv) => {
                push(syn::Error::new(
                    nv.eq_token.span,
                    format!("expected `#[shard::{}(...)]`", inner.name()),
                ));
                continue;
            }
        };
        if let Err(e) = apply(inner, args, &mut spec) {
            push(e);
        }
    }
    func.attrs = kept;

    let catches = spec.flaky.is_some() || spec.non_critical;
    if let Some(sp) = func
        .attrs
        .iter()
        .find(|a| a.path().is_ident("should_panic"))
        .filter(|_| catches)
    {
        push(syn::Error::new(
            sp.path().span(),
            "`#[should_panic]` cannot be combined with `#[shard::flaky]` or \
             `#[shard::non_critical]` (they catch the panic the test expects)",
        ));
    }
    if let Some(first) = func.sig.inputs.first() {
        push(syn::Error::new(
            first.span(),
            "shard attributes apply to test functions, which take no arguments",
        ));
    }
    if let Some(param) = func.sig.generics.params.first() {
        push(syn::Error::new(
            param.span(),
            "shard attributes apply to test functions, which have no generic parameters",
        ));
    }
    if let Some(e) = errors {
        return Err(e);
    }
    Ok(render(&func, &spec))
}

/// The span of the keyword that says what kind of item this is, for "not a function".
fn item_keyword_span(item: &Item) -> Span {
    match item {
        Item::Struct(i) => i.struct_token.span,
        Item::Enum(i) => i.enum_token.span,
        Item::Const(i) => i.const_token.span,
        Item::Static(i) => i.static_token.span,
        Item::Mod(i) => i.mod_token.span,
        Item::Impl(i) => i.impl_token.span,
        Item::Trait(i) => i.trait_token.span,
        Item::Type(i) => i.type_token.span,
        Item::Use(i) => i.use_token.span,
        Item::Union(i) => i.union_token.span,
        other => other.span(),
    }
}

/// Recognises `#[shard::X]` / `#[::shard::X]` for the four attributes. A bare `#[serial]` is
/// not taken: it may be another crate's (serial_test's) attribute.
fn shard_attribute(attr: &Attribute) -> Option<Kind> {
    let path = attr.path();
    if path.segments.len() != 2 || path.segments[0].ident != "shard" {
        return None;
    }
    Kind::from_name(&path.segments[1].ident.to_string())
}

/// One argument: `"literal"`, `ident` or `name = value`.
enum Arg {
    Str(LitStr),
    Ident(Ident),
    Named { name: Ident, value: Expr },
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(LitStr) {
            return Ok(Arg::Str(input.parse()?));
        }
        if input.peek(Ident) {
            let name: Ident = input.parse()?;
            if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                let value: Expr = input.parse()?;
                return Ok(Arg::Named { name, value });
            }
            return Ok(Arg::Ident(name));
        }
        Err(input.error("expected a name, a string literal or `option = value`"))
    }
}

fn parse_args(args: TokenStream) -> syn::Result<Vec<Arg>> {
    let parsed = Punctuated::<Arg, Token![,]>::parse_terminated.parse2(args)?;
    Ok(parsed.into_iter().collect())
}

fn apply(kind: Kind, args: TokenStream, spec: &mut Spec) -> syn::Result<()> {
    match kind {
        Kind::Serial => spec.serial = Some(parse_serial(args)?),
        Kind::Group => spec.group = Some(parse_group(args)?),
        Kind::Flaky => spec.flaky = Some(parse_flaky(args)?),
        Kind::NonCritical => {
            if let Some(tt) = args.into_iter().next() {
                return Err(syn::Error::new(
                    tt.span(),
                    "`#[shard::non_critical]` takes no arguments",
                ));
            }
            spec.non_critical = true;
        }
        Kind::Threads => spec.threads = Some(parse_threads(args)?),
    }
    Ok(())
}

/// `#[shard::threads(N)]` (1 to [`MAX_THREADS`]) or `#[shard::threads("num-cpus")]`.
fn parse_threads(args: TokenStream) -> syn::Result<u32> {
    let usage = "expected the number of worker slots the test takes, as in \
                 `#[shard::threads(4)]`, or `#[shard::threads(\"num-cpus\")]` for all of them";
    if args.is_empty() {
        return Err(syn::Error::new(Span::call_site(), usage));
    }
    let span = args.span();
    match syn::parse2::<Lit>(args) {
        Ok(Lit::Int(n)) => match n.base10_parse::<u64>() {
            Ok(v) if (1..=MAX_THREADS).contains(&v) => Ok(v as u32),
            _ => Err(syn::Error::new(
                n.span(),
                format!("`threads` must be between 1 and {MAX_THREADS}"),
            )),
        },
        Ok(Lit::Str(s)) if s.value() == "num-cpus" => Ok(ALL_THREADS),
        Ok(other) => Err(syn::Error::new(other.span(), usage)),
        Err(_) => Err(syn::Error::new(span, usage)),
    }
}

fn parse_serial(args: TokenStream) -> syn::Result<String> {
    let args = parse_args(args)?;
    let mut iter = args.into_iter();
    let key = match iter.next() {
        None => return Ok(String::new()),
        Some(Arg::Ident(key)) => {
            let text = key.to_string();
            text.strip_prefix("r#").unwrap_or(&text).to_owned()
        }
        Some(Arg::Str(lit)) => {
            return Err(syn::Error::new(
                lit.span(),
                "the serial key is a plain name: write `#[shard::serial(redis)]`",
            ));
        }
        Some(Arg::Named { name, .. }) => {
            return Err(syn::Error::new(
                name.span(),
                format!(
                    "unknown option `{name}` for `#[shard::serial]`: it takes an optional key, as in `#[shard::serial(redis)]`"
                ),
            ));
        }
    };
    if let Some(extra) = iter.next() {
        return Err(syn::Error::new(
            arg_span(&extra),
            "`#[shard::serial]` takes at most one key",
        ));
    }
    Ok(key)
}

fn arg_span(arg: &Arg) -> Span {
    match arg {
        Arg::Str(l) => l.span(),
        Arg::Ident(i) => i.span(),
        Arg::Named { name, .. } => name.span(),
    }
}

/// Group names become file names in the lock directory.
fn valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn parse_group(args: TokenStream) -> syn::Result<(String, u32)> {
    let call_site = args.span();
    let args = parse_args(args)?;
    let mut name: Option<String> = None;
    let mut max: Option<u32> = None;
    for (i, arg) in args.into_iter().enumerate() {
        match arg {
            Arg::Str(lit) if i == 0 => {
                let value = lit.value();
                if !valid_group_name(&value) {
                    return Err(syn::Error::new(
                        lit.span(),
                        "a group name is 1-100 characters of `A-Z a-z 0-9 _ - .`, not starting with `.`",
                    ));
                }
                name = Some(value);
            }
            Arg::Named { name: opt, value } if opt == "max" => {
                if max.is_some() {
                    return Err(syn::Error::new(opt.span(), "`max` given twice"));
                }
                let n = int_value(&value, "max")?;
                if n == 0 {
                    return Err(syn::Error::new(
                        value.span(),
                        "`max` must be at least 1 (a group of at most 0 tests never runs)",
                    ));
                }
                max = Some(u32::try_from(n).map_err(|_| {
                    syn::Error::new(value.span(), "`max` is too large (at most 4294967295)")
                })?);
            }
            Arg::Named { name: opt, .. } => {
                return Err(syn::Error::new(
                    opt.span(),
                    format!(
                        "unknown option `{opt}` for `#[shard::group]`: expected `max`, as in `#[shard::group(\"db\", max = 2)]`"
                    ),
                ));
            }
            other => {
                return Err(syn::Error::new(
                    arg_span(&other),
                    "expected `#[shard::group(\"name\", max = N)]`: the group name comes first, as a string literal",
                ));
            }
        }
    }
    match (name, max) {
        (Some(name), Some(max)) => Ok((name, max)),
        (None, _) => Err(syn::Error::new(
            call_site,
            "missing group name: write `#[shard::group(\"name\", max = N)]`",
        )),
        (Some(_), None) => Err(syn::Error::new(
            call_site,
            "missing `max`: write `#[shard::group(\"name\", max = N)]`",
        )),
    }
}

fn parse_flaky(args: TokenStream) -> syn::Result<(u32, u64)> {
    let call_site = args.span();
    let args = parse_args(args)?;
    let mut retries: Option<u32> = None;
    let mut backoff: Option<u64> = None;
    for arg in args {
        match arg {
            Arg::Named { name, value } if name == "retries" => {
                if retries.is_some() {
                    return Err(syn::Error::new(name.span(), "`retries` given twice"));
                }
                let n = int_value(&value, "retries")?;
                if n == 0 || n > MAX_RETRIES {
                    return Err(syn::Error::new(
                        value.span(),
                        format!("`retries` must be between 1 and {MAX_RETRIES}"),
                    ));
                }
                retries = Some(n as u32);
            }
            Arg::Named { name, value } if name == "backoff" => {
                if backoff.is_some() {
                    return Err(syn::Error::new(name.span(), "`backoff` given twice"));
                }
                let Expr::Lit(ExprLit {
                    lit: Lit::Str(lit), ..
                }) = &value
                else {
                    return Err(syn::Error::new(
                        value.span(),
                        "`backoff` is a duration string such as \"200ms\" or \"1s\"",
                    ));
                };
                let ms = parse_duration_ms(&lit.value())
                    .map_err(|msg| syn::Error::new(lit.span(), msg))?;
                backoff = Some(ms);
            }
            Arg::Named { name, .. } => {
                return Err(syn::Error::new(
                    name.span(),
                    format!(
                        "unknown option `{name}` for `#[shard::flaky]`: expected `retries` or `backoff`"
                    ),
                ));
            }
            other => {
                return Err(syn::Error::new(
                    arg_span(&other),
                    "expected `#[shard::flaky(retries = N)]` or `#[shard::flaky(retries = N, backoff = \"200ms\")]`",
                ));
            }
        }
    }
    let Some(retries) = retries else {
        return Err(syn::Error::new(
            call_site,
            "missing `retries`: write `#[shard::flaky(retries = N)]`",
        ));
    };
    Ok((retries, backoff.unwrap_or(0)))
}

/// An unsuffixed (or integer-suffixed) integer literal.
fn int_value(value: &Expr, option: &str) -> syn::Result<u64> {
    if let Expr::Lit(ExprLit {
        lit: Lit::Int(lit), ..
    }) = value
    {
        return lit_u64(lit);
    }
    Err(syn::Error::new(
        value.span(),
        format!("`{option}` must be an integer literal, as in `{option} = 2`"),
    ))
}

fn lit_u64(lit: &LitInt) -> syn::Result<u64> {
    lit.base10_parse::<u64>()
}

/// Parses a backoff with the one duration parser the CLI and the configuration use
/// (`shardtest_protocol::duration::parse`), then checks the 60 s cap.
fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let d =
        shardtest_protocol::duration::parse(text).map_err(|e| format!("invalid backoff: {e}"))?;
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms > MAX_BACKOFF_MS {
        return Err(format!(
            "backoff `{text}` is longer than 60 s (each wait is capped at 60 s anyway)"
        ));
    }
    Ok(ms)
}

fn render(func: &ItemFn, spec: &Spec) -> TokenStream {
    let span = func.sig.ident.span();
    let test_name = {
        let text = func.sig.ident.to_string();
        text.strip_prefix("r#").unwrap_or(&text).to_owned()
    };
    let serial = match &spec.serial {
        Some(key) => quote!(::core::option::Option::Some(#key)),
        None => quote!(::core::option::Option::None),
    };
    let group = match &spec.group {
        Some((name, max)) => quote! {
            ::core::option::Option::Some(::shard::__private::GroupRecord { name: #name, max: #max })
        },
        None => quote!(::core::option::Option::None),
    };
    let flaky = match &spec.flaky {
        Some((retries, backoff_ms)) => quote! {
            ::core::option::Option::Some(::shard::__private::FlakyRecord {
                retries: #retries,
                backoff_ms: #backoff_ms,
            })
        },
        None => quote!(::core::option::Option::None),
    };
    let non_critical = spec.non_critical;
    let threads = match spec.threads {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };

    let attrs = &func.attrs;
    let vis = &func.vis;
    let sig = &func.sig;
    let block = &func.block;
    let mut inner_sig = func.sig.clone();
    inner_sig.ident = Ident::new("__shard_body", span);
    let call = if func.sig.asyncness.is_some() {
        quote_spanned!(span=> ::shard::__private::run_async(&__SHARD_TEST, __shard_body).await)
    } else {
        quote_spanned!(span=> ::shard::__private::run(&__SHARD_TEST, __shard_body))
    };
    let record = quote_spanned! {span=>
        #[::shard::__private::linkme::distributed_slice(::shard::__private::TESTS)]
        #[linkme(crate = ::shard::__private::linkme)]
        static __SHARD_TEST: ::shard::__private::TestRecord = ::shard::__private::TestRecord {
            module_path: ::core::module_path!(),
            name: #test_name,
            serial: #serial,
            group: #group,
            flaky: #flaky,
            non_critical: #non_critical,
            threads: #threads,
            anchor: ::shard::__private::anchor,
        };
    };
    let mut out = TokenStream::new();
    for attr in attrs {
        attr.to_tokens(&mut out);
    }
    out.extend(quote! {
        #vis #sig {
            #record
            #inner_sig #block
            #call
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of(kind: Kind, args: &str) -> syn::Result<Spec> {
        let mut spec = Spec::default();
        apply(kind, args.parse().expect("tokens"), &mut spec)?;
        Ok(spec)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("200ms"), Ok(200));
        assert_eq!(parse_duration_ms("2s"), Ok(2000));
        assert_eq!(parse_duration_ms("1s 500ms"), Ok(1500));
        assert_eq!(parse_duration_ms("1m"), Ok(60_000));
        assert_eq!(parse_duration_ms("0ms"), Ok(0));
        // The CLI's parser: `2m1s` and `2 h` are durations there, so they are here too.
        assert_eq!(
            parse_duration_ms("2m1s"),
            Err("backoff `2m1s` is longer than 60 s (each wait is capped at 60 s anyway)".into())
        );
        assert_eq!(parse_duration_ms("1s500ms"), Ok(1500));
        assert_eq!(parse_duration_ms("1.5s"), Ok(1500));
        for bad in ["", "fast", "200", "ms", "-1s"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn options() {
        assert_eq!(
            spec_of(Kind::Serial, "").unwrap().serial.as_deref(),
            Some("")
        );
        assert_eq!(
            spec_of(Kind::Serial, "redis").unwrap().serial.as_deref(),
            Some("redis")
        );
        assert!(spec_of(Kind::Serial, "a, b").is_err());
        assert_eq!(
            spec_of(Kind::Group, "\"db\", max = 2").unwrap().group,
            Some(("db".to_owned(), 2))
        );
        assert!(spec_of(Kind::Group, "\"db\"").is_err());
        assert!(spec_of(Kind::Group, "\"../x\", max = 1").is_err());
        assert!(spec_of(Kind::Group, "\"db\", max = 0").is_err());
        assert_eq!(
            spec_of(Kind::Flaky, "retries = 3, backoff = \"200ms\"")
                .unwrap()
                .flaky,
            Some((3, 200))
        );
        assert_eq!(
            spec_of(Kind::Flaky, "retries = 1").unwrap().flaky,
            Some((1, 0))
        );
        assert!(spec_of(Kind::Flaky, "retries = \"x\"").is_err());
        assert!(spec_of(Kind::Flaky, "backoff = \"1s\"").is_err());
        assert!(spec_of(Kind::Flaky, "retries = 2, jitter = 1").is_err());
        assert!(spec_of(Kind::NonCritical, "").unwrap().non_critical);
        assert!(spec_of(Kind::NonCritical, "x").is_err());
        assert_eq!(spec_of(Kind::Threads, "2").unwrap().threads, Some(2));
        assert_eq!(
            spec_of(Kind::Threads, "\"num-cpus\"").unwrap().threads,
            Some(ALL_THREADS)
        );
        for bad in ["", "0", "2000", "\"many\"", "x", "2, 3", "n = 2"] {
            assert!(spec_of(Kind::Threads, bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn stacked_attributes_expand_once_and_duplicates_are_rejected() {
        let item: TokenStream = "#[shard::flaky(retries = 2)] #[test] fn t() {}"
            .parse()
            .unwrap();
        let out = try_expand(Kind::Serial, TokenStream::new(), item)
            .unwrap()
            .to_string();
        assert!(!out.contains("shard :: flaky"), "{out}");
        assert!(out.contains("retries : 2u32"), "{out}");
        let dup: TokenStream = "#[shard::serial(a)] #[test] fn t() {}".parse().unwrap();
        assert!(try_expand(Kind::Serial, TokenStream::new(), dup).is_err());
        let not_fn: TokenStream = "struct S;".parse().unwrap();
        assert!(try_expand(Kind::Serial, TokenStream::new(), not_fn).is_err());
    }
}
