// Types for personas.mjs, so the Playwright tests (TypeScript) can import it:
//   import { slackTeamId } from '../oidc/personas.mjs';

export declare const MICROSOFT_TENANT: string;
export declare const MICROSOFT_CONSUMER_TENANT: string;
export declare const MICROSOFT_CONSUMER_DOMAIN: string;
export declare const GOOGLE_CONSUMER_DOMAIN: string;

export declare function normalizeEmail(email: string): string;
export declare function emailDomain(email: string): string;
export declare function emailLocalPart(email: string): string;
export declare function emailVerified(email: string): boolean;
export declare function personaNames(email: string): { name: string; given_name: string; family_name?: string };

export declare function googleSubject(email: string): string;
export declare function googleHd(email: string): string | undefined;

export declare function microsoftTenant(email: string): string;
export declare function microsoftObjectId(email: string): string;
export declare function microsoftSubject(email: string, clientId?: string): string;

export declare function slackUserId(email: string): string;
export declare function slackTeamId(email: string): string;
export declare function slackTeam(email: string): { name: string; domain: string };
