//! Expansion of `hosts!`: a checked list of `[pub] [external] NAME = "a.b.c.d"` entries.
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, LitStr, Token, Visibility};

syn::custom_keyword!(external);

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

struct Entries(Punctuated<Entry, Token![,]>);

impl Parse for Entries {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        Ok(Entries(Punctuated::parse_terminated(input)?))
    }
}

fn push(errors: &mut Option<syn::Error>, e: syn::Error) {
    match errors {
        Some(all) => all.combine(e),
        None => *errors = Some(e),
    }
}

pub fn hosts(input: TokenStream) -> TokenStream {
    match expand(input) {
        Ok(ts) => ts,
        Err(e) => e.to_compile_error(),
    }
}

fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let Entries(entries) = syn::parse2(input)?;
    let mut errors = None;
    let mut by_name: HashMap<String, &Entry> = HashMap::new();
    let mut by_addr: HashMap<Ipv4Addr, &Entry> = HashMap::new();
    let mut out = TokenStream::new();
    for entry in &entries {
        let name = entry.name.to_string();
        if let Some(first) = by_name.get(&name) {
            push(
                &mut errors,
                syn::Error::new(
                    first.name.span(),
                    format!("duplicate host name `{name}`: first declared here"),
                ),
            );
            push(
                &mut errors,
                syn::Error::new(
                    entry.name.span(),
                    format!("duplicate host name `{name}`: declared again here"),
                ),
            );
            continue;
        }
        by_name.insert(name.clone(), entry);

        let text = entry.addr.value();
        let ip = match text.trim().parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => ip,
            Ok(IpAddr::V6(_)) => {
                push(
                    &mut errors,
                    syn::Error::new(
                        entry.addr.span(),
                        format!(
                            "`{text}` is an IPv6 address; hosts! takes IPv4 addresses such as \"127.0.0.2\""
                        ),
                    ),
                );
                continue;
            }
            Err(e) => {
                push(
                    &mut errors,
                    syn::Error::new(
                        entry.addr.span(),
                        format!("`{text}` is not an IPv4 address ({e}); write e.g. \"127.0.0.2\""),
                    ),
                );
                continue;
            }
        };
        if !ip.is_loopback() && !entry.external {
            let vis = entry.vis.to_token_stream().to_string();
            let vis = if vis.is_empty() {
                vis
            } else {
                format!("{vis} ")
            };
            push(
                &mut errors,
                syn::Error::new(
                    entry.addr.span(),
                    format!(
                        "`{ip}` is not a loopback address (127.0.0.0/8); tests must not reach \
                         outside the machine by accident: mark it `{vis}external {name} = \"{ip}\"` \
                         if it is meant to"
                    ),
                ),
            );
            continue;
        }
        if let Some(first) = by_addr.get(&ip) {
            push(
                &mut errors,
                syn::Error::new(
                    first.addr.span(),
                    format!(
                        "duplicate host address {ip}: used by `{}` here and by `{name}`",
                        first.name
                    ),
                ),
            );
            push(
                &mut errors,
                syn::Error::new(
                    entry.addr.span(),
                    format!(
                        "duplicate host address {ip}: used again by `{name}` (first by `{}`)",
                        first.name
                    ),
                ),
            );
            continue;
        }
        by_addr.insert(ip, entry);

        let Entry {
            attrs,
            vis,
            external,
            name: ident,
            ..
        } = entry;
        let [a, b, c, d] = ip.octets();
        out.extend(quote! {
            #(#attrs)*
            #vis const #ident: ::shard::hosts::Host =
                ::shard::hosts::Host::__new(#name, [#a, #b, #c, #d], #external);
            const _: () = {
                #[::shard::hosts::__private::linkme::distributed_slice(::shard::hosts::HOSTS)]
                #[linkme(crate = ::shard::hosts::__private::linkme)]
                static REGISTERED: ::shard::hosts::Host = #ident;
            };
        });
    }
    // Valid entries are still defined, so an error shows only where it is, not at every use.
    if let Some(e) = errors {
        out.extend(e.to_compile_error());
    }
    Ok(out)
}
