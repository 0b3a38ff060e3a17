//! Expansion of `hosts!`: a checked list of `[pub] [external] NAME = "a.b.c.d"` entries.
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, LitStr, Token, Visibility};

syn::custom_keyword!(external);

/// One `[attrs] [vis] [external] NAME = "a.b.c.d"` entry.
struct Entry {
    attrs: Vec<Attribute>,
    vis: Visibility,
    external: bool,
    name: Ident,
    addr: LitStr,
}

impl Parse for Entry {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let external = if input.peek(external) && !input.peek2(Token![=]) {
            input.parse::<external>()?;
            true
        } else {
            false
        };
        let name: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let addr: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the host's address as a string literal, e.g. \"127.0.0.2\"",
            )
        })?;
        Ok(Entry {
            attrs,
            vis,
            external,
            name,
            addr,
        })
    }
}

/// The comma-separated entries of one `hosts!` call.
struct Entries(Punctuated<Entry, Token![,]>);

impl Parse for Entries {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        Ok(Entries(Punctuated::parse_terminated(input)?))
    }
}

/// `hosts!`: the entries' constants, or the compile errors of input that does not parse.
pub fn hosts(input: TokenStream) -> TokenStream {
    match expand(input) {
        Ok(ts) => ts,
        Err(e) => e.to_compile_error(),
    }
}

/// Checks every entry and defines the valid ones; the errors come after the definitions.
fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let Entries(entries) = syn::parse2(input)?;
    let mut checks = Checks::default();
    let mut out = TokenStream::new();
    for entry in &entries {
        if let Some(ip) = checks.check(entry) {
            out.extend(define(entry, ip));
        }
    }
    // Valid entries are still defined, so an error shows only where it is, not at every use.
    if let Some(e) = checks.errors {
        out.extend(e.to_compile_error());
    }
    Ok(out)
}

/// The entries seen so far (by name and by address) and the errors found in them.
#[derive(Default)]
struct Checks<'a> {
    by_name: HashMap<String, &'a Entry>,
    by_addr: HashMap<Ipv4Addr, &'a Entry>,
    errors: Option<syn::Error>,
}

impl<'a> Checks<'a> {
    /// Adds an error at `span` to the ones found so far.
    fn error(&mut self, span: Span, message: String) {
        let e = syn::Error::new(span, message);
        match &mut self.errors {
            Some(all) => all.combine(e),
            None => self.errors = Some(e),
        }
    }

    /// The entry's address when the entry is valid; otherwise records the first problem.
    fn check(&mut self, entry: &'a Entry) -> Option<Ipv4Addr> {
        self.new_name(entry)?;
        let ip = self.ipv4(entry)?;
        self.loopback_or_external(entry, ip)?;
        self.new_addr(entry, ip)?;
        Some(ip)
    }

    /// Claims the entry's name, or reports both declarations of a duplicate.
    fn new_name(&mut self, entry: &'a Entry) -> Option<()> {
        let name = entry.name.to_string();
        if let Some(first) = self.by_name.get(&name) {
            let first = first.name.span();
            self.error(
                first,
                format!("duplicate host name `{name}`: first declared here"),
            );
            self.error(
                entry.name.span(),
                format!("duplicate host name `{name}`: declared again here"),
            );
            return None;
        }
        self.by_name.insert(name, entry);
        Some(())
    }

    /// The entry's address as IPv4, or an error saying why it is not one.
    fn ipv4(&mut self, entry: &Entry) -> Option<Ipv4Addr> {
        let text = entry.addr.value();
        match text.trim().parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => Some(ip),
            Ok(IpAddr::V6(_)) => {
                self.error(
                    entry.addr.span(),
                    format!(
                        "`{text}` is an IPv6 address; hosts! takes IPv4 addresses such as \"127.0.0.2\""
                    ),
                );
                None
            }
            Err(e) => {
                self.error(
                    entry.addr.span(),
                    format!("`{text}` is not an IPv4 address ({e}); write e.g. \"127.0.0.2\""),
                );
                None
            }
        }
    }

    /// Rejects an address outside 127.0.0.0/8 unless the entry is marked `external`.
    fn loopback_or_external(&mut self, entry: &Entry, ip: Ipv4Addr) -> Option<()> {
        if ip.is_loopback() || entry.external {
            return Some(());
        }
        let name = &entry.name;
        let vis = entry.vis.to_token_stream().to_string();
        let vis = if vis.is_empty() {
            vis
        } else {
            format!("{vis} ")
        };
        self.error(
            entry.addr.span(),
            format!(
                "`{ip}` is not a loopback address (127.0.0.0/8); tests must not reach \
                 outside the machine by accident: mark it `{vis}external {name} = \"{ip}\"` \
                 if it is meant to"
            ),
        );
        None
    }

    /// Claims the entry's address, or reports both entries sharing it.
    fn new_addr(&mut self, entry: &'a Entry, ip: Ipv4Addr) -> Option<()> {
        if let Some(first) = self.by_addr.get(&ip) {
            let (span, first) = (first.addr.span(), first.name.clone());
            let name = &entry.name;
            self.error(
                span,
                format!("duplicate host address {ip}: used by `{first}` here and by `{name}`"),
            );
            self.error(
                entry.addr.span(),
                format!("duplicate host address {ip}: used again by `{name}` (first by `{first}`)"),
            );
            return None;
        }
        self.by_addr.insert(ip, entry);
        Some(())
    }
}

/// The constant a valid entry declares, and its registration in `shard::hosts::HOSTS`.
fn define(entry: &Entry, ip: Ipv4Addr) -> TokenStream {
    let Entry {
        attrs,
        vis,
        external,
        name: ident,
        ..
    } = entry;
    let name = ident.to_string();
    let [a, b, c, d] = ip.octets();
    quote! {
        #(#attrs)*
        #vis const #ident: ::shard::hosts::Host =
            ::shard::hosts::Host::__new(#name, [#a, #b, #c, #d], #external);
        const _: () = {
            #[::shard::hosts::__private::linkme::distributed_slice(::shard::hosts::HOSTS)]
            #[linkme(crate = ::shard::hosts::__private::linkme)]
            static REGISTERED: ::shard::hosts::Host = #ident;
        };
    }
}
