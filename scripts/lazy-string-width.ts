// string-width as the CLI bundle holds it (bundle-cli.ts puts this module in its place): loaded
// on first need. yargs lays out a command's help text with it (through cliui and wrap-ansi) on
// every command, shown or not, and each of its three copies constructs an Intl.Segmenter as it
// loads, which loads ICU's data: 14 ms of every start on Node 20. Printable ASCII, which all of
// our help is, is as wide as it is long; anything else goes to the package itself.
type StringWidth = (text: string, options?: object) => number;

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
let stringWidthPackage: StringWidth | undefined;

export default function stringWidth(text: string, options?: object): number {
  if (typeof text === 'string' && PRINTABLE_ASCII.test(text)) return text.length;
  // a require, not an import: the bundle then evaluates the package here, on first use
  stringWidthPackage ??= (require('string-width') as { default: StringWidth }).default;
  return stringWidthPackage(text, options);
}
