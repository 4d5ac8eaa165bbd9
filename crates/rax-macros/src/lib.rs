//! `#[derive(Tree)]`: implements `rax_core::tree::Tree` for named-field structs, tuple structs
//! and enums whose fields are trees (tensors, nested structs, `Vec`, `Option`, tuples, maps).
//!
//! - Leaf path segments are field names (`layers.0.attn.wq`); tuple fields use their index.
//!   Enum variants do not add a path segment (the variant is part of the structure string).
//! - A field marked `#[tree(static)]` is not a leaf (like `eqx.field(static=True)`): it is
//!   cloned as is by `map_leaves` (so it must implement `Clone`) and its `Debug` text is part of
//!   the structure string, hence of a jit signature (so it must implement `Debug`).
//! - A field marked `#[tree(sensitive)]` declares its leaves precision-sensitive
//!   (`LeafInfo::sensitive`, kept f32 by the dtype policy); `for_each_leaf_info` /
//!   `map_leaves_info` forward the enclosing info to the other fields.
//! - Generic type parameters get a `Tree` bound.
//!
//! Which crate the generated code names: `#[derive(rax::Tree)]` (the facade's re-export, what a
//! user crate depending only on `rax` writes) names `::rax::core`; `#[derive(rax_macros::Tree)]`
//! (the rax crates built on rax-core: rax-nn, rax-models, ...) names `::rax_core`. A container
//! attribute overrides both, as serde's `#[serde(crate = "...")]` does, for a crate that reaches
//! rax through another re-export: `#[tree(crate = "my_reexport::rax::core")]`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{parse_macro_input, Data, DeriveInput, Fields};

/// Derives `rax_core::tree::Tree`, naming `::rax_core` (for crates that depend on rax-core).
/// See the crate documentation.
#[proc_macro_derive(Tree, attributes(tree))]
pub fn derive_tree(input: TokenStream) -> TokenStream {
    derive_with(input, syn::parse_quote!(::rax_core))
}

/// The `Tree` derive the `rax` facade re-exports as `rax::Tree`: the same expansion, naming
/// `::rax::core` (for crates that depend only on the facade).
#[doc(hidden)]
#[proc_macro_derive(FacadeTree, attributes(tree))]
pub fn derive_facade_tree(input: TokenStream) -> TokenStream {
    derive_with(input, syn::parse_quote!(::rax::core))
}

fn derive_with(input: TokenStream, default_crate: syn::Path) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input, default_crate) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The path given by a container attribute `#[tree(crate = "path")]`, if any.
fn container_crate(attrs: &[syn::Attribute]) -> syn::Result<Option<syn::Path>> {
    let mut krate = None;
    for a in attrs {
        if a.path().is_ident("tree") {
            a.parse_nested_meta(|m| {
                if m.path.is_ident("crate") {
                    let lit: syn::LitStr = m.value()?.parse()?;
                    krate = Some(lit.parse::<syn::Path>()?);
                    Ok(())
                } else {
                    Err(m.error(
                        "unknown tree container attribute; expected `#[tree(crate = \"path\")]` \
                         (`static` and `sensitive` go on fields)",
                    ))
                }
            })?;
        }
    }
    Ok(krate)
}

/// `(static, sensitive)` flags of a field's `#[tree(...)]` attributes.
fn field_flags(attrs: &[syn::Attribute]) -> syn::Result<(bool, bool)> {
    let (mut stat, mut sens) = (false, false);
    for a in attrs {
        if a.path().is_ident("tree") {
            a.parse_nested_meta(|m| {
                if m.path.is_ident("static") {
                    stat = true;
                    Ok(())
                } else if m.path.is_ident("sensitive") {
                    sens = true;
                    Ok(())
                } else {
                    Err(m.error(
                        "unknown tree attribute; expected `#[tree(static)]` or `#[tree(sensitive)]`",
                    ))
                }
            })?;
        }
    }
    if stat && sens {
        return Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            "a field cannot be both `static` and `sensitive`",
        ));
    }
    Ok((stat, sens))
}

/// One field: how to access it (`self.a` / bound ident), its path segment, static or not.
struct FieldInfo {
    access: TokenStream2,
    seg: String,
    member: Option<syn::Ident>,
    bind: syn::Ident,
    is_static: bool,
    sensitive: bool,
}

fn fields_info(fields: &Fields, bind: bool) -> syn::Result<Vec<FieldInfo>> {
    let mut out = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let (st, sens) = field_flags(&f.attrs)?;
        let bind_id = match &f.ident {
            Some(id) => format_ident!("__f_{}", id),
            None => format_ident!("__f{}", i),
        };
        let (seg, access, member) = match &f.ident {
            Some(id) => {
                let seg = id.to_string();
                let seg = seg.strip_prefix("r#").unwrap_or(&seg).to_string();
                let acc = if bind {
                    let b = format_ident!("__f_{}", id);
                    quote!((*#b))
                } else {
                    quote!(self.#id)
                };
                (seg, acc, Some(id.clone()))
            }
            None => {
                let idx = syn::Index::from(i);
                let acc = if bind {
                    let b = format_ident!("__f{}", i);
                    quote!((*#b))
                } else {
                    quote!(self.#idx)
                };
                (i.to_string(), acc, None)
            }
        };
        out.push(FieldInfo {
            access,
            seg,
            member,
            bind: bind_id,
            is_static: st,
            sensitive: sens,
        });
    }
    Ok(out)
}

fn visit_body(krate: &syn::Path, infos: &[FieldInfo]) -> TokenStream2 {
    let parts = infos.iter().filter(|f| !f.is_static).map(|f| {
        let (acc, seg) = (&f.access, &f.seg);
        quote! {
            #krate::tree::with_segment(path, #seg, |p| #krate::tree::Tree::for_each_leaf(&#acc, p, f));
        }
    });
    quote!(#(#parts)*)
}

fn info_expr(krate: &syn::Path, f: &FieldInfo) -> TokenStream2 {
    if f.sensitive {
        quote!(#krate::tree::LeafInfo { sensitive: true })
    } else {
        quote!(info)
    }
}

fn visit_info_body(krate: &syn::Path, infos: &[FieldInfo]) -> TokenStream2 {
    let parts = infos.iter().filter(|f| !f.is_static).map(|f| {
        let (acc, seg, inf) = (&f.access, &f.seg, info_expr(krate, f));
        quote! {
            #krate::tree::with_segment(path, #seg, |p| #krate::tree::Tree::for_each_leaf_info(&#acc, p, #inf, f));
        }
    });
    quote!(#(#parts)*)
}

fn map_info_exprs(krate: &syn::Path, infos: &[FieldInfo]) -> Vec<TokenStream2> {
    infos
        .iter()
        .map(|f| {
            let (acc, seg, inf) = (&f.access, &f.seg, info_expr(krate, f));
            if f.is_static {
                quote!(::core::clone::Clone::clone(&#acc))
            } else {
                quote!(#krate::tree::with_segment(path, #seg, |p| #krate::tree::Tree::map_leaves_info(&#acc, p, #inf, f)))
            }
        })
        .collect()
}

fn map_exprs(krate: &syn::Path, infos: &[FieldInfo]) -> Vec<TokenStream2> {
    infos
        .iter()
        .map(|f| {
            let (acc, seg) = (&f.access, &f.seg);
            if f.is_static {
                quote!(::core::clone::Clone::clone(&#acc))
            } else {
                quote!(#krate::tree::with_segment(path, #seg, |p| #krate::tree::Tree::map_leaves(&#acc, p, f)))
            }
        })
        .collect()
}

fn structure_body(krate: &syn::Path, infos: &[FieldInfo]) -> TokenStream2 {
    let parts = infos.iter().map(|f| {
        let (acc, seg) = (&f.access, &f.seg);
        if f.is_static {
            quote! {
                out.push_str(#seg);
                out.push('=');
                out.push_str(&::std::format!("{:?}", &#acc));
                out.push(',');
            }
        } else {
            quote! {
                out.push_str(#seg);
                out.push(':');
                #krate::tree::Tree::write_structure(&#acc, out);
                out.push(',');
            }
        }
    });
    quote!(#(#parts)*)
}

fn construct(
    path: TokenStream2,
    fields: &Fields,
    infos: &[FieldInfo],
    exprs: Vec<TokenStream2>,
) -> TokenStream2 {
    match fields {
        Fields::Named(_) => {
            let names = infos.iter().map(|f| f.member.clone());
            quote!(#path { #(#names: #exprs),* })
        }
        Fields::Unnamed(_) => quote!(#path ( #(#exprs),* )),
        Fields::Unit => quote!(#path),
    }
}

fn pattern(path: TokenStream2, fields: &Fields, infos: &[FieldInfo]) -> TokenStream2 {
    let binds = infos.iter().map(|f| &f.bind);
    match fields {
        Fields::Named(_) => {
            let names = infos.iter().map(|f| f.member.clone());
            quote!(#path { #(#names: #binds),* })
        }
        Fields::Unnamed(_) => quote!(#path ( #(#binds),* )),
        Fields::Unit => quote!(#path),
    }
}

fn expand(input: &DeriveInput, default_crate: syn::Path) -> syn::Result<TokenStream2> {
    let krate = &container_crate(&input.attrs)?.unwrap_or(default_crate);
    let name = &input.ident;
    let name_str = name.to_string();
    let mut generics = input.generics.clone();
    let params: Vec<syn::Ident> = generics.type_params().map(|t| t.ident.clone()).collect();
    {
        let wc = generics.make_where_clause();
        for p in &params {
            wc.predicates
                .push(syn::parse_quote!(#p: #krate::tree::Tree));
        }
    }
    let (impl_g, ty_g, where_c) = generics.split_for_impl();

    let (visit, map, structure, visit_info, map_info) = match &input.data {
        Data::Struct(s) => {
            let infos = fields_info(&s.fields, false)?;
            let visit = visit_body(krate, &infos);
            let visit_info = visit_info_body(krate, &infos);
            let map = construct(quote!(Self), &s.fields, &infos, map_exprs(krate, &infos));
            let map_info = construct(
                quote!(Self),
                &s.fields,
                &infos,
                map_info_exprs(krate, &infos),
            );
            let st = structure_body(krate, &infos);
            let structure = quote! {
                out.push_str(#name_str);
                out.push('{');
                #st
                out.push('}');
            };
            (visit, map, structure, visit_info, map_info)
        }
        Data::Enum(e) => {
            let mut visit_arms = Vec::new();
            let mut map_arms = Vec::new();
            let mut st_arms = Vec::new();
            let mut visit_info_arms = Vec::new();
            let mut map_info_arms = Vec::new();
            for v in &e.variants {
                let vname = &v.ident;
                let vstr = format!("{name_str}::{vname}");
                let infos = fields_info(&v.fields, true)?;
                let pat = pattern(quote!(Self::#vname), &v.fields, &infos);
                let visit = visit_body(krate, &infos);
                let cons = construct(
                    quote!(Self::#vname),
                    &v.fields,
                    &infos,
                    map_exprs(krate, &infos),
                );
                let cons_info = construct(
                    quote!(Self::#vname),
                    &v.fields,
                    &infos,
                    map_info_exprs(krate, &infos),
                );
                let visit_info = visit_info_body(krate, &infos);
                visit_info_arms.push(quote!(#pat => { #visit_info }));
                map_info_arms.push(quote!(#pat => #cons_info));
                let st = structure_body(krate, &infos);
                visit_arms.push(quote!(#pat => { #visit }));
                map_arms.push(quote!(#pat => #cons));
                st_arms.push(
                    quote!(#pat => { out.push_str(#vstr); out.push('{'); #st out.push('}'); }),
                );
            }
            (
                quote!(#[allow(unused_variables)] match self { #(#visit_arms)* }),
                quote!(#[allow(unused_variables)] match self { #(#map_arms),* }),
                quote!(#[allow(unused_variables)] match self { #(#st_arms)* }),
                quote!(#[allow(unused_variables)] match self { #(#visit_info_arms)* }),
                quote!(#[allow(unused_variables)] match self { #(#map_info_arms),* }),
            )
        }
        Data::Union(_) => {
            return Err(syn::Error::new_spanned(
                &input.ident,
                "#[derive(Tree)] supports structs and enums, not unions",
            ))
        }
    };

    Ok(quote! {
        impl #impl_g #krate::tree::Tree for #name #ty_g #where_c {
            #[allow(unused_variables)]
            fn for_each_leaf(&self, path: &mut ::std::vec::Vec<::std::string::String>, f: &mut dyn FnMut(&[::std::string::String], &#krate::Tensor)) {
                #visit
            }
            #[allow(unused_variables)]
            fn map_leaves(&self, path: &mut ::std::vec::Vec<::std::string::String>, f: &mut dyn FnMut(&[::std::string::String], &#krate::Tensor) -> #krate::Tensor) -> Self {
                #map
            }
            fn write_structure(&self, out: &mut ::std::string::String) {
                #structure
            }
            #[allow(unused_variables)]
            fn for_each_leaf_info(&self, path: &mut ::std::vec::Vec<::std::string::String>, info: #krate::tree::LeafInfo, f: &mut dyn FnMut(&[::std::string::String], &#krate::Tensor, #krate::tree::LeafInfo)) {
                #visit_info
            }
            #[allow(unused_variables)]
            fn map_leaves_info(&self, path: &mut ::std::vec::Vec<::std::string::String>, info: #krate::tree::LeafInfo, f: &mut dyn FnMut(&[::std::string::String], &#krate::Tensor, #krate::tree::LeafInfo) -> #krate::Tensor) -> Self {
                #map_info
            }
        }
    })
}
