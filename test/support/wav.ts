/**
 * A WAV file as a recorder writes one (8 kHz, 16-bit, mono) of `seconds`: silence, or a 440 Hz
 * tone where a test plays it and the samples should not all be zero.
 */
export function wavFile(seconds: number, sound: 'silence' | 'tone' = 'silence'): Buffer {
  const samples = 8000 * seconds;
  const data = Buffer.alloc(samples * 2);
  if (sound === 'tone') for (let i = 0; i < samples; i += 1) data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)), i * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(8000, 24);
  header.writeUInt32LE(16000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}
