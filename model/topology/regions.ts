/**
 * Regions each provider offers, with the metro area each one sits in. The metro matters more
 * than the name: AWS us-east-1 and Azure eastus are both in northern Virginia, so a mirror in
 * one for a master in the other shares the master's power grid, weather and fibre.
 */
type RegionTable = Readonly<Record<string, string>>;

export const AWS_REGIONS: RegionTable = {
  'us-east-1': 'Northern Virginia',
  'us-east-2': 'Ohio',
  'us-west-1': 'Northern California',
  'us-west-2': 'Oregon',
  'ca-central-1': 'Montreal',
  'ca-west-1': 'Calgary',
  'mx-central-1': 'Queretaro',
  'sa-east-1': 'Sao Paulo',
  'af-south-1': 'Cape Town',
  'eu-west-1': 'Dublin',
  'eu-west-2': 'London',
  'eu-west-3': 'Paris',
  'eu-central-1': 'Frankfurt',
  'eu-central-2': 'Zurich',
  'eu-north-1': 'Stockholm',
  'eu-south-1': 'Milan',
  'eu-south-2': 'Aragon',
  'il-central-1': 'Tel Aviv',
  'me-south-1': 'Bahrain',
  'me-central-1': 'UAE',
  'ap-east-1': 'Hong Kong',
  'ap-east-2': 'Taipei',
  'ap-south-1': 'Mumbai',
  'ap-south-2': 'Hyderabad',
  'ap-southeast-1': 'Singapore',
  'ap-southeast-2': 'Sydney',
  'ap-southeast-3': 'Jakarta',
  'ap-southeast-4': 'Melbourne',
  'ap-southeast-5': 'Malaysia',
  'ap-southeast-7': 'Thailand',
  'ap-northeast-1': 'Tokyo',
  'ap-northeast-2': 'Seoul',
  'ap-northeast-3': 'Osaka',
};

export const AZURE_LOCATIONS: RegionTable = {
  eastus: 'Northern Virginia',
  eastus2: 'Northern Virginia',
  centralus: 'Iowa',
  northcentralus: 'Illinois',
  southcentralus: 'Texas',
  westcentralus: 'Wyoming',
  westus: 'Northern California',
  westus2: 'Washington',
  westus3: 'Arizona',
  canadacentral: 'Toronto',
  canadaeast: 'Quebec City',
  mexicocentral: 'Queretaro',
  brazilsouth: 'Sao Paulo',
  northeurope: 'Dublin',
  westeurope: 'Amsterdam',
  uksouth: 'London',
  ukwest: 'Cardiff',
  francecentral: 'Paris',
  germanywestcentral: 'Frankfurt',
  switzerlandnorth: 'Zurich',
  norwayeast: 'Oslo',
  swedencentral: 'Gavle',
  polandcentral: 'Warsaw',
  italynorth: 'Milan',
  spaincentral: 'Madrid',
  israelcentral: 'Tel Aviv',
  qatarcentral: 'Doha',
  uaenorth: 'UAE',
  southafricanorth: 'Johannesburg',
  centralindia: 'Pune',
  southindia: 'Chennai',
  westindia: 'Mumbai',
  eastasia: 'Hong Kong',
  southeastasia: 'Singapore',
  japaneast: 'Tokyo',
  japanwest: 'Osaka',
  koreacentral: 'Seoul',
  australiaeast: 'Sydney',
  australiasoutheast: 'Melbourne',
  newzealandnorth: 'Auckland',
};

export const REGIONS = { aws: AWS_REGIONS, azure: AZURE_LOCATIONS } as const;

/** Metro of a cloud region, or undefined when the region is unknown. */
export function metroOf(provider: 'aws' | 'azure', region: string): string | undefined {
  return REGIONS[provider][region];
}
