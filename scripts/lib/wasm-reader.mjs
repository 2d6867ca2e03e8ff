// Reading a WebAssembly binary as the spec encodes it (LEB128 integers, UTF-8 names, sections).
// Shared by scripts/shrink-glue.mjs (renames imports) and scripts/wasm-size.mjs (size breakdown).

/** A cursor over a wasm binary. */
export class Reader {
  constructor(bytes, offset = 0) {
    this.bytes = bytes;
    this.offset = offset;
  }
  byte() {
    return this.bytes[this.offset++];
  }
  u32() {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  }
  name() {
    const length = this.u32();
    const text = new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(this.offset, this.offset + length));
    this.offset += length;
    return text;
  }
  /** `limits` of a table or memory type: flags, min, and max when flag bit 0 is set. */
  limits() {
    const flags = this.byte();
    this.u32();
    if (flags & 1) this.u32();
    if (flags & ~0x7) throw new Error(`unsupported limits flags 0x${flags.toString(16)}`);
  }
  /** Skips one import's description (after its module and field names); answers its kind byte. */
  importDescription(what) {
    const kind = this.byte();
    if (kind === 0x00) this.u32(); // function: type index
    else if (kind === 0x01) {
      this.byte(); // table: reference type, then limits
      this.limits();
    } else if (kind === 0x02) this.limits(); // memory
    else if (kind === 0x03) {
      this.byte(); // global: value type, mutability
      this.byte();
    } else if (kind === 0x04) {
      this.byte(); // tag: attribute, type index
      this.u32();
    } else throw new Error(`unknown import kind 0x${kind.toString(16)} for ${what}`);
    return kind;
  }
}

/**
 * The module's sections in order: `{id, name, start, bodyStart, end}` (`name` only for custom
 * sections; `start` is where the section's id byte is, `bodyStart` where its contents begin).
 */
export function sections(bytes) {
  const reader = new Reader(bytes, 8);
  const out = [];
  while (reader.offset < bytes.length) {
    const start = reader.offset;
    const id = reader.byte();
    const size = reader.u32();
    const bodyStart = reader.offset;
    const end = bodyStart + size;
    const section = { id, start, bodyStart, end };
    if (id === 0) section.name = reader.name();
    out.push(section);
    reader.offset = end;
  }
  return out;
}
