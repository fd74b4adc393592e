package readkit

import "reflect"

// WithDefaults is a reader's Limits l with every field that is not positive
// taken from def: the zero Limits are the defaults, and one field can be
// set alone. L must be a struct of integer fields.
func WithDefaults[L any](l, def L) L {
	v := reflect.ValueOf(&l).Elem()
	d := reflect.ValueOf(def)
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.CanInt() && f.Int() <= 0, f.CanUint() && f.Uint() == 0:
			f.Set(d.Field(i))
		}
	}
	return l
}
