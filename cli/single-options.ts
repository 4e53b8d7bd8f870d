import { InvalidArgumentError, type Command } from 'commander';

// An option that takes one value, given twice, is a usage error (exit 2) naming both values.
// Commander keeps the last one silently: `ferry hold place --rid A --rid B` held B only and said
// "held: 1 call(s)", and A stayed purgeable. Options that collect values (`--rid <rid...>`, a
// collecting parser) and options with a parser of their own are left as they are.

export function refuseRepeatedOptions(command: Command): void {
  for (const option of command.options) {
    if (option.variadic || option.parseArg || !(option.required || option.optional)) continue;
    const flag = option.long ?? option.short ?? option.flags;
    option.argParser((value: string, previous: unknown) => {
      if (previous !== undefined && previous !== option.defaultValue) {
        throw new InvalidArgumentError(`${flag} was given twice ("${String(previous)}", then "${value}"): it takes one value`);
      }
      return value;
    });
  }
  for (const sub of command.commands) refuseRepeatedOptions(sub);
}
