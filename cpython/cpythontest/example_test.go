package cpythontest_test

import (
	"fmt"

	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/cpython/cpythontest"
)

// A class and a method in the memory of a fake 3.11, read back through
// cpython.Reader.
func Example() {
	l, err := cpython.LayoutFor(cpython.Version{Major: 3, Minor: 11})
	if err != nil {
		panic(err)
	}
	r := cpythontest.NewRuntime(l, 0x7f0000000000)
	code := r.Code(cpython.CodeInfo{
		Name: "deposit", Qualname: "Account.deposit", Filename: "/srv/bank.py", FirstLine: 12,
		ArgCount: 2, Flags: cpython.CO_OPTIMIZED | cpython.CO_NEWLOCALS, ParamNames: []string{"self", "amount"},
	})
	class := r.HeapType("Account", "Account", r.Dict(cpythontest.UnicodeDict,
		cpythontest.Item{Key: r.Str("__module__"), Value: r.Str("bank")},
		cpythontest.Item{Key: r.Str("deposit"), Value: r.Function("Account.deposit", "bank", code)},
	))

	rd := r.Reader()
	name, err := rd.TypeName(class)
	if err != nil {
		panic(err)
	}
	c, err := rd.Code(code)
	if err != nil {
		panic(err)
	}
	fmt.Println(name)
	fmt.Println(c.Qualname, c.ParamNames, c.ParamKinds())
	// Output:
	// bank.Account
	// Account.deposit [self amount] [positional_or_keyword positional_or_keyword]
}
