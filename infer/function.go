package infer

import (
	"strings"

	"github.com/recapi/recapi/aggregate"
)

// Function kinds as a stub declares them.
const (
	KindFunction     = "function"     // module-level or nested function
	KindMethod       = "method"       // instance method: first parameter is self
	KindClassMethod  = "classmethod"  // @classmethod: first parameter is cls
	KindStaticMethod = "staticmethod" // @staticmethod: no implicit first parameter
	// KindImplicitClassMethod is __new__, __init_subclass__ and
	// __class_getitem__: bound to the class without a decorator.
	KindImplicitClassMethod = "implicit_classmethod"
)

// ClassOf returns the class part of a method's qualname: "Outer.Inner" for
// "Outer.Inner.meth". ok is false for module-level functions and for
// anything defined inside a function ("f.<locals>.C.m"): classes a stub
// cannot name.
func ClassOf(qualname string) (class string, ok bool) {
	i := strings.LastIndexByte(qualname, '.')
	if i <= 0 || strings.Contains(qualname, "<") {
		return "", false
	}
	return qualname[:i], true
}

// metaclasses are classes known to derive from type.
var metaclasses = map[string]bool{
	"builtins.type": true, "abc.ABCMeta": true, "enum.EnumType": true, "enum.EnumMeta": true,
	"typing._ProtocolMeta": true,
}

// MethodKind says how the function of recs is bound. Records that carry a
// Binding decide; otherwise the qualname and the first parameter do: a
// Class.meth whose first parameter is self is a method, one whose first
// parameter is cls holding a class (builtins.type, a metaclass, or
// builtins.type[X]) a classmethod, and any other Class.meth a staticmethod.
// recs are the records of one function, most called first.
func MethodKind(recs []aggregate.Record, o Options) string {
	if len(recs) == 0 {
		return KindFunction
	}
	qual := recs[0].Function.Qualname
	class, ok := ClassOf(qual)
	if !ok {
		return KindFunction
	}
	switch name := qual[len(class)+1:]; name {
	case "__new__", "__init_subclass__", "__class_getitem__":
		return KindImplicitClassMethod
	}
	for _, r := range recs {
		switch r.Binding {
		case aggregate.BindingInstance:
			return KindMethod
		case aggregate.BindingClass:
			return KindClassMethod
		}
	}
	self := recs[0].Function.Module + "." + class
	for _, r := range recs {
		ps := aggregate.DeclarationOrder(r.Params)
		if len(ps) == 0 || ps[0].Kind == aggregate.KindVarPositional || ps[0].Kind == aggregate.KindKeywordOnly || ps[0].Kind == aggregate.KindVarKeyword {
			continue
		}
		switch ps[0].Name {
		case "self":
			return KindMethod
		case "cls", "mcs", "mcls", "metacls":
			t := ps[0].Type
			switch {
			case t == self:
				// cls holds an instance of the class: a method of
				// a metaclass whose first parameter is named cls.
				return KindMethod
			case t == "" || metaclasses[t] || strings.HasPrefix(t, "builtins.type["):
				return KindClassMethod
			}
			if m, ok := mro(t, o); ok && contains(m, "builtins.type") {
				return KindClassMethod
			}
			return KindStaticMethod
		}
	}
	return KindStaticMethod
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// SelfReturn reports whether a method of kind always returned its own
// receiver's class: for a method, every observed return type is the type
// of self in that call; for a classmethod, the class itself (or X of a cls
// typed builtins.type[X]). At least one return must have been observed.
func SelfReturn(recs []aggregate.Record, kind string) bool {
	if kind != KindMethod && kind != KindClassMethod || len(recs) == 0 {
		return false
	}
	class, _ := ClassOf(recs[0].Function.Qualname)
	self := recs[0].Function.Module + "." + class
	seen := false
	for _, r := range recs {
		if r.Returns == nil || *r.Returns == "" {
			continue
		}
		ps := aggregate.DeclarationOrder(r.Params)
		if len(ps) == 0 {
			return false
		}
		want := ps[0].Type
		if kind == KindClassMethod {
			want = self
			if t := ps[0].Type; strings.HasPrefix(t, "builtins.type[") && strings.HasSuffix(t, "]") {
				want = t[len("builtins.type[") : len(t)-1]
			}
		}
		if want == "" || *r.Returns != want {
			return false
		}
		seen = true
	}
	return seen
}
