/** Types of build-freshness.js (plain JavaScript, read by the bin before TypeScript can load). */
export declare const MANIFEST_NAME: string;
export declare const BUILT_ENTRY: string;
export declare function sourceStamps(root: string): Record<string, string>;
export declare function freshBuiltEntry(root: string, distDir?: string): string | undefined;
