import type { DescEnum } from "@bufbuild/protobuf";
import { invalidField } from "../errors/domain-error.js";

/**
 * The one check of an enum field of a request. proto3 enums are open: the
 * binary decoder accepts any number, so a value the contract does not define
 * must be refused here, at the service edge, with the field named, rather than
 * read as some default. `required` also refuses the zero (UNSPECIFIED) value.
 */
export function enumFromRequest<T extends number>(
  schema: DescEnum,
  value: T,
  field: string,
  options: { required?: boolean } = {},
): T {
  if (!schema.values.some((v) => v.number === value)) {
    throw invalidField(field, `${value} is not a value of ${schema.typeName}`);
  }
  if (options.required === true && value === 0) throw invalidField(field, "required");
  return value;
}
