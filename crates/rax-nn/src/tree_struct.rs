//! `tree_struct!`: implements `rax_core::Tree` for a struct with named fields (each field a
//! `Tree`), with the field names as leaf path segments.

/// Implements `Tree` for a struct whose listed fields are all trees.
#[macro_export]
macro_rules! tree_struct {
    ($name:ident { $($field:ident),+ $(,)? }) => {
        impl rax_core::Tree for $name {
            fn for_each_leaf(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &rax_core::Tensor)) {
                $( rax_core::tree::with_segment(path, stringify!($field), |p| self.$field.for_each_leaf(p, f)); )+
            }
            fn map_leaves(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &rax_core::Tensor) -> rax_core::Tensor) -> Self {
                $name { $( $field: rax_core::tree::with_segment(path, stringify!($field), |p| self.$field.map_leaves(p, f)), )+ }
            }
            fn write_structure(&self, out: &mut String) {
                out.push_str(concat!(stringify!($name), "{"));
                $( out.push_str(concat!(stringify!($field), ":")); self.$field.write_structure(out); out.push(','); )+
                out.push('}');
            }
            fn for_each_leaf_info(&self, path: &mut Vec<String>, info: rax_core::LeafInfo, f: &mut dyn FnMut(&[String], &rax_core::Tensor, rax_core::LeafInfo)) {
                $( rax_core::tree::with_segment(path, stringify!($field), |p| self.$field.for_each_leaf_info(p, info, f)); )+
            }
            fn map_leaves_info(&self, path: &mut Vec<String>, info: rax_core::LeafInfo, f: &mut dyn FnMut(&[String], &rax_core::Tensor, rax_core::LeafInfo) -> rax_core::Tensor) -> Self {
                $name { $( $field: rax_core::tree::with_segment(path, stringify!($field), |p| self.$field.map_leaves_info(p, info, f)), )+ }
            }
        }
    };
}
