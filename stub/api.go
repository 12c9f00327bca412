package stub

import (
	"encoding/json"
	"io"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/infer"
)

// APIVersion is the version of the API JSON schema (docs/api-schema.md).
const APIVersion = 1

// API is the document "recapi api" writes: what was called in each module,
// how, and from where.
type API struct {
	Version int                   `json:"recapi_api"`
	Calls   uint64                `json:"calls"`
	Modules map[string]*APIModule `json:"modules"`
}

// APIModule is the functions of one module, keyed by qualname.
type APIModule struct {
	Calls     uint64                  `json:"calls"`
	Functions map[string]*APIFunction `json:"functions"`
}

// APIFunction is one function.
type APIFunction struct {
	File        string                `json:"file,omitempty"`
	Line        int                   `json:"line,omitempty"`
	Kind        string                `json:"kind"`
	CodeKind    string                `json:"code_kind,omitempty"`
	Calls       uint64                `json:"calls"`
	Resumptions uint64                `json:"resumptions,omitempty"`
	Created     uint64                `json:"created,omitempty"`
	Raised      uint64                `json:"raised,omitempty"`
	Untyped     uint64                `json:"calls_without_types,omitempty"`
	Params      []APIParam            `json:"params"`
	Returns     *APITypes             `json:"returns"`
	Yields      *APITypes             `json:"yields,omitempty"`
	Callers     map[string]*APICaller `json:"callers"`
	Signatures  []APISignature        `json:"signatures"`
}

// APIParam is one parameter in declaration order.
type APIParam struct {
	Name       string            `json:"name"`
	Kind       string            `json:"kind"`
	HasDefault bool              `json:"has_default,omitempty"`
	Types      map[string]uint64 `json:"types"`
	Inferred   *string           `json:"inferred"`
}

// APITypes is the observed return (or yield) types and the inferred one.
type APITypes struct {
	Types    map[string]uint64 `json:"types"`
	Inferred *string           `json:"inferred"`
	Self     bool              `json:"self,omitempty"`
}

// APICaller is the calls from one top-level package.
type APICaller struct {
	Calls     uint64 `json:"calls"`
	Functions int    `json:"functions"`
}

// APISignature is one distinct signature.
type APISignature struct {
	Signature string `json:"signature"`
	Calls     uint64 `json:"calls"`
	Raised    uint64 `json:"raised,omitempty"`
}

// BuildAPI builds the API document of funcs, limited to modules (prefixes
// as in Options.Modules; empty for all).
func BuildAPI(funcs []infer.Func, modules []string) *API {
	api := &API{Version: APIVersion, Modules: make(map[string]*APIModule)}
	for i := range funcs {
		f := &funcs[i]
		if !selected(f.Function.Module, modules) {
			continue
		}
		m := api.Modules[f.Function.Module]
		if m == nil {
			m = &APIModule{Functions: make(map[string]*APIFunction)}
			api.Modules[f.Function.Module] = m
		}
		af := &APIFunction{
			File: f.Function.File, Line: f.Function.Line, Kind: f.Kind, CodeKind: f.CodeKind,
			Calls: f.Calls, Resumptions: f.Resumptions, Created: f.Created, Raised: f.Raised, Untyped: f.Untyped, Params: []APIParam{},
			Callers: make(map[string]*APICaller), Signatures: []APISignature{},
		}
		for _, p := range f.Params {
			ap := APIParam{Name: p.Name, Kind: p.Kind, HasDefault: p.HasDefault, Types: p.Types}
			if p.Known {
				s := p.Type.String()
				ap.Inferred = &s
			}
			af.Params = append(af.Params, ap)
		}
		if f.Returns != nil {
			af.Returns = &APITypes{Types: f.Returns, Self: f.SelfReturn}
			if f.HasReturn {
				s := f.Return.String()
				af.Returns.Inferred = &s
			}
		}
		if f.Yields != nil {
			af.Yields = &APITypes{Types: f.Yields}
			if f.HasYield {
				s := f.Yield.String()
				af.Yields.Inferred = &s
			}
		}
		for k, c := range f.Callers {
			af.Callers[k] = &APICaller{Calls: c.Calls, Functions: c.Functions}
		}
		for _, s := range f.Signatures {
			af.Signatures = append(af.Signatures, APISignature{Signature: aggregate.Signature(s.Record, false), Calls: s.Calls, Raised: s.Record.Raised})
		}
		m.Functions[f.Function.Qualname] = af
		m.Calls += f.Calls
		api.Calls += f.Calls
	}
	return api
}

// WriteJSON writes api as indented JSON; map keys are sorted, so the same
// records always give the same bytes.
func (api *API) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(api)
}
